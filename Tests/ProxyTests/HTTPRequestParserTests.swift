import XCTest

@testable import Proxy

/// How the admin API's HTTP server reads a request from bytes: what it accepts, what it
/// decodes, and the status it refuses everything else with.
final class HTTPRequestParserTests: XCTestCase {
    private func parse(_ text: String, maximumHeadBytes: Int = 16 << 10, maximumBodyBytes: Int = 1 << 20) -> HTTPRequestParser.Progress {
        var parser = HTTPRequestParser(maximumHeadBytes: maximumHeadBytes, maximumBodyBytes: maximumBodyBytes)
        return parser.append(ArraySlice(text.utf8))
    }

    private func head(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> HTTPRequestHead? {
        guard case .complete(let head, _) = parse(text) else {
            XCTFail("not a complete request: \(parse(text))", file: file, line: line)
            return nil
        }
        return head
    }

    private func refusal(_ text: String, maximumHeadBytes: Int = 16 << 10) -> Int? {
        guard case .refused(let error) = parse(text, maximumHeadBytes: maximumHeadBytes) else { return nil }
        return error.status
    }

    func testAGoodRequest() {
        let request = head("GET /routes/alice?verbose=1 HTTP/1.1\r\nHost: gateway\r\nUser-Agent: test/1.0\r\nAccept:  */*  \r\n\r\n")
        XCTAssertEqual(request?.method, "GET")
        XCTAssertEqual(request?.path, "/routes/alice")
        XCTAssertEqual(request?.query, ["verbose": "1"])
        XCTAssertEqual(request?.headers, ["host": "gateway", "user-agent": "test/1.0", "accept": "*/*"], "names lowercased, values trimmed")
        XCTAssertEqual(request?.contentLength, 0)
        XCTAssertEqual(head("GET / HTTP/1.0\r\n\r\n")?.path, "/", "HTTP/1.0 needs no Host")
    }

    func testABodyArrivingInPiecesIsExactlyContentLengthLong() {
        var parser = HTTPRequestParser()
        let text = Array("POST /routes HTTP/1.1\r\nHost: g\r\nContent-Length: 11\r\n\r\n{\"a\":\"bcd\"}EXTRA".utf8)
        var progress = HTTPRequestParser.Progress.needsMoreBytes
        for byte in text {
            progress = parser.append([byte])
            if progress != .needsMoreBytes { break }
        }
        guard case .complete(let head, let body) = progress else { return XCTFail("\(progress)") }
        XCTAssertEqual(head.method, "POST")
        XCTAssertEqual(String(decoding: body, as: UTF8.self), "{\"a\":\"bcd\"}", "bytes after the body are not part of it")
        XCTAssertEqual(parse("POST /x HTTP/1.1\r\nHost: g\r\nContent-Length: 5\r\n\r\nab"), .needsMoreBytes)
    }

    func testMalformedRequestLinesAre400() {
        for text in [
            "GET\r\n\r\n", "GET /\r\n\r\n", "GET  / HTTP/1.1\r\nHost: g\r\n\r\n", "GET / HTTP/1.1 \r\nHost: g\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: g\r\n\r\n", "GET / HTTP/1.1x\r\nHost: g\r\n\r\n", "GET / http/1.1\r\nHost: g\r\n\r\n",
            "\r\n\r\n", "GET /a\u{7}b HTTP/1.1\r\nHost: g\r\n\r\n", "GET /é HTTP/1.1\r\nHost: g\r\n\r\n",
        ] {
            XCTAssertEqual(refusal(text), 400, text.debugDescription)
        }
        XCTAssertEqual(refusal("GET / HTTP/2.0\r\nHost: g\r\n\r\n"), 505)
        XCTAssertEqual(refusal("GET / HTTP/1.1\r\n\r\n"), 400, "HTTP/1.1 needs a Host")
    }

    func testMalformedHeadersAre400() {
        for header in [
            "Host: g\r\nX-Folded: a\r\n  continued", "Host: g\r\nX-Space : a", "Host: g\r\nNo colon", "Host: g\r\n: empty name",
            "Host: g\r\nX-Control: a\u{1}b", "Host: g\r\nX-Bare: a\nInjected: b", "Host: g\r\nX-Bare: a\rb", "Host: g\r\nX(y): 1",
        ] {
            XCTAssertEqual(refusal("GET / HTTP/1.1\r\n\(header)\r\n\r\n"), 400, header.debugDescription)
        }
        XCTAssertNotNil(head("GET / HTTP/1.1\r\nHost: g\r\nX-Tab: a\tb\r\n\r\n"), "a tab inside a value is fine")
    }

    func testRepeatedHeaders() {
        let request = head("GET / HTTP/1.1\r\nHost: g\r\nX-A: 1\r\nx-a: 2\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n")
        XCTAssertEqual(request?.headers["x-a"], "1, 2")
        XCTAssertEqual(request?.headers["cookie"], "a=1; b=2")
        for repeated in ["Host: g\r\nhost: g", "Host: g\r\nContent-Length: 0\r\ncontent-length: 0", "Host: g\r\nAuthorization: a\r\nAuthorization: b"] {
            XCTAssertEqual(refusal("GET / HTTP/1.1\r\n\(repeated)\r\n\r\n"), 400, repeated)
        }
    }

    func testBodyFraming() {
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n"), 501)
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: g\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), 501)
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: g\r\n\r\n"), 411)
        XCTAssertEqual(refusal("PUT / HTTP/1.1\r\nHost: g\r\n\r\n"), 411)
        XCTAssertEqual(head("DELETE /x HTTP/1.1\r\nHost: g\r\n\r\n")?.contentLength, 0, "other methods without a length have no body")
        for length in ["-1", "abc", "5, 5", "+5", "", "99999999999999999999", "0x10"] {
            XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: g\r\nContent-Length: \(length)\r\n\r\n"), 400, length)
        }
        XCTAssertEqual(refusal("POST / HTTP/1.1\r\nHost: g\r\nContent-Length: \((1 << 20) + 1)\r\n\r\n"), 413)
        guard case .needsMoreBytes = parse("POST / HTTP/1.1\r\nHost: g\r\nContent-Length: \(1 << 20)\r\n\r\n") else {
            return XCTFail("exactly the limit is allowed")
        }
    }

    func testTheHeadLimit() {
        let long = "GET / HTTP/1.1\r\nHost: g\r\nX-Long: \(String(repeating: "a", count: 17 << 10))\r\n\r\n"
        XCTAssertEqual(refusal(long), 431, "in one piece")
        XCTAssertEqual(refusal(String(long.dropLast(4))), 431, "without an end in sight")
        var parser = HTTPRequestParser(maximumHeadBytes: 64)
        var progress = HTTPRequestParser.Progress.needsMoreBytes
        for _ in 0..<100 where progress == .needsMoreBytes { progress = parser.append(ArraySlice("aaaaaaaa".utf8)) }
        XCTAssertEqual(progress, .refused(HTTPRequestError(431, "the request line and headers may have at most 64 bytes")), "in small pieces")
        XCTAssertNotNil(head("GET / HTTP/1.1\r\nHost: g\r\nX-Long: \(String(repeating: "a", count: 16 << 9))\r\n\r\n"))
    }

    func testThePathIsPercentDecoded() {
        XCTAssertEqual(head("GET /routes/a%20b/%C3%A9t%C3%A9 HTTP/1.1\r\nHost: g\r\n\r\n")?.path, "/routes/a b/été")
        XCTAssertEqual(head("GET /a+b%2Fc HTTP/1.1\r\nHost: g\r\n\r\n")?.path, "/a+b/c", "a plus is a plus in a path")
        XCTAssertEqual(head("GET /a//b/ HTTP/1.1\r\nHost: g\r\n\r\n")?.path, "/a//b/")
        for target in ["/a%zz", "/a%4", "/a%", "/a%00b", "/a%FF", "/a%C3", "relative", "*", "http://gateway/x", "/a#frag",
                       "/../etc", "/a/./b", "/a/%2E%2E/b", "/a/.."] {
            XCTAssertEqual(refusal("GET \(target) HTTP/1.1\r\nHost: g\r\n\r\n"), 400, target)
        }
    }

    func testTheQuery() {
        let query = head("GET /x?a=1&b=two+words&a=3&c&=dropped&d=%26%3D&e=caf%C3%A9&&f= HTTP/1.1\r\nHost: g\r\n\r\n")?.query
        XCTAssertEqual(query, ["a": "3", "b": "two words", "c": "", "d": "&=", "e": "café", "f": ""])
        XCTAssertEqual(head("GET /x? HTTP/1.1\r\nHost: g\r\n\r\n")?.query, [:])
        XCTAssertEqual(head("GET /x?q=a%2Bb HTTP/1.1\r\nHost: g\r\n\r\n")?.query, ["q": "a+b"])
        for query in ["a=%zz", "a=%00", "%FF=1"] {
            XCTAssertEqual(refusal("GET /x?\(query) HTTP/1.1\r\nHost: g\r\n\r\n"), 400, query)
        }
    }
}
