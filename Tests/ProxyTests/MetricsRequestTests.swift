import XCTest

@testable import Proxy

/// What the metrics endpoint answers, decided from the request line.
final class MetricsRequestTests: XCTestCase {
    private func request(_ text: String) -> MetricsRequest { MetricsRequest(requestHead: Array(text.utf8)) }

    func testTheTwoEndpoints() {
        XCTAssertEqual(request("GET /metrics HTTP/1.1\r\nHost: gateway\r\n\r\n"), .metrics)
        XCTAssertEqual(request("GET /healthz HTTP/1.0\r\n\r\n"), .health)
        XCTAssertEqual(request("GET /metrics\n\n"), .metrics, "bare line feeds end the line too")
    }

    func testOtherTargetsAreNotFound() {
        XCTAssertEqual(request("GET / HTTP/1.1\r\n\r\n"), .notFound)
        XCTAssertEqual(request("GET /metrics?x=1 HTTP/1.1\r\n\r\n"), .notFound)
        XCTAssertEqual(request("GET /METRICS HTTP/1.1\r\n\r\n"), .notFound)
        XCTAssertEqual(request("GET\r\n\r\n"), .notFound, "GET without a target")
    }

    func testOtherMethodsAreNotAllowed() {
        XCTAssertEqual(request("POST /metrics HTTP/1.1\r\n\r\n"), .methodNotAllowed)
        XCTAssertEqual(request("get /metrics HTTP/1.1\r\n\r\n"), .methodNotAllowed, "methods are case-sensitive")
        XCTAssertEqual(request(""), .methodNotAllowed)
        XCTAssertEqual(request("\r\nGET /metrics HTTP/1.1\r\n\r\n"), .methodNotAllowed, "only the first line counts")
    }

    func testHeadersDoNotChangeTheAnswer() {
        XCTAssertEqual(request("GET /healthz HTTP/1.1\r\nX-Target: /metrics\r\n\r\n"), .health)
        XCTAssertEqual(MetricsRequest(requestHead: Array("GET /metrics HTTP/1.1\r\n".utf8) + [0xFF, 0x00, 0xC3]), .metrics)
    }
}
