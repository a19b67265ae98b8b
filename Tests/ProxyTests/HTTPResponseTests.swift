import XCTest

@testable import Proxy

/// What the admin API's HTTP server writes for a handler's response: the framing and security
/// headers it adds, and the heads it refuses to send.
final class HTTPResponseTests: XCTestCase {
    private func headText(_ response: HTTPResponse, streaming: Bool = false) -> String? {
        response.encodedHead(streaming: streaming, date: "Sun, 06 Nov 1994 08:49:37 GMT").map { String(decoding: $0, as: UTF8.self) }
    }

    func testEveryResponseGetsTheServersHeaders() throws {
        let head = try XCTUnwrap(headText(.text(status: 404, "no such route\n")))
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        for line in [
            "Content-Type: text/plain; charset=utf-8", "Content-Length: 14", "Connection: close", "Date: Sun, 06 Nov 1994 08:49:37 GMT",
            "X-Content-Type-Options: nosniff", "Referrer-Policy: no-referrer", "X-Frame-Options: DENY", "Cache-Control: no-store",
        ] {
            XCTAssertTrue(head.contains("\r\n\(line)\r\n"), line)
        }
        XCTAssertTrue(head.hasSuffix("\r\n\r\n"))
    }

    func testTheServerOwnsFramingButRespectsCacheControl() throws {
        let response = HTTPResponse(
            status: 200, headers: [("content-length", "999"), ("Connection", "keep-alive"), ("X-Frame-Options", "ALLOW"), ("Cache-Control", "max-age=60")],
            body: Array("abc".utf8)
        )
        let head = try XCTUnwrap(headText(response))
        XCTAssertFalse(head.contains("999"))
        XCTAssertFalse(head.contains("keep-alive"))
        XCTAssertFalse(head.contains("ALLOW"))
        XCTAssertTrue(head.contains("Content-Length: 3\r\n"))
        XCTAssertTrue(head.contains("Cache-Control: max-age=60\r\n"))
        XCTAssertFalse(head.contains("no-store"))
    }

    func testStreamsAndEmptyStatusesHaveNoLength() throws {
        XCTAssertFalse(try XCTUnwrap(headText(HTTPResponse(status: 200, headers: [("Content-Type", "text/event-stream")]), streaming: true)).contains("Content-Length"))
        XCTAssertFalse(try XCTUnwrap(headText(HTTPResponse(status: 204, body: [1, 2]))).contains("Content-Length"))
        XCTAssertFalse(HTTPResponse(status: 304).allowsBody)
    }

    func testHeadsThatCannotBeSentAreRefused() {
        XCTAssertNil(headText(HTTPResponse(status: 200, headers: [("X-Evil", "a\r\nSet-Cookie: x=1")])))
        XCTAssertNil(headText(HTTPResponse(status: 200, headers: [("X-Evil", "a\nb")])))
        XCTAssertNil(headText(HTTPResponse(status: 200, headers: [("X-Evil", "a\u{0}b")])))
        XCTAssertNil(headText(HTTPResponse(status: 200, headers: [("X Evil", "a")])))
        XCTAssertNil(headText(HTTPResponse(status: 200, headers: [("", "a")])))
        XCTAssertNil(headText(HTTPResponse(status: 200, headers: [("X-Evil\r\n", "a")])))
        XCTAssertNil(headText(HTTPResponse(status: 101)))
        XCTAssertNil(headText(HTTPResponse(status: 600)))
        XCTAssertNotNil(headText(HTTPResponse(status: 200, headers: [("X-Fine", "a\tb ünïcode")])))
    }

    func testHelpers() throws {
        struct Route: Encodable { let name: String; let port: Int }
        let json = HTTPResponse.json(status: 201, Route(name: "alice/1", port: 22))
        XCTAssertEqual(json.status, 201)
        XCTAssertEqual(json.header("content-type"), "application/json")
        XCTAssertEqual(String(decoding: json.body, as: UTF8.self), #"{"name":"alice/1","port":22}"#)
        XCTAssertEqual(HTTPResponse.json(Data("[]".utf8)).body, Array("[]".utf8))
        func generic(_ value: some Encodable) -> HTTPResponse { .json(value) }
        XCTAssertEqual(generic(Data("{}".utf8)).body, Array("{}".utf8), "Data is JSON already, also through a generic caller")
        XCTAssertEqual(HTTPResponse.json(Double.nan).status, 500, "a value JSON cannot hold")
        XCTAssertEqual(HTTPResponse.reasonPhrase(422), "Unprocessable Content")
        XCTAssertEqual(HTTPResponse.reasonPhrase(429), "Too Many Requests")
    }

    func testTheDateFormat() {
        XCTAssertEqual(HTTPDate.text(secondsSinceEpoch: 784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT")
        XCTAssertEqual(HTTPDate.text(secondsSinceEpoch: 0), "Thu, 01 Jan 1970 00:00:00 GMT")
    }
}
