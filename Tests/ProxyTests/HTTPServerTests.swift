import Foundation
import Synchronization
import TLS
import XCTest

@testable import Proxy

/// The admin API's HTTP server live on 127.0.0.1: real curl for what a client does, raw
/// sockets for what a hostile one does; plain, over TLS and on a Unix-domain socket.
final class HTTPServerTests: XCTestCase {
    private var servers: [HTTPServer] = []
    private var directories: [URL] = []

    override func tearDown() {
        servers.forEach { $0.stop() }
        directories.forEach { try? FileManager.default.removeItem(at: $0) }
        super.tearDown()
    }

    private func start(
        tls: TLSServerContext? = nil, limits: HTTPServer.Limits = HTTPServer.Limits(),
        handler: @escaping @Sendable (HTTPRequest) -> HTTPReply = HTTPServerTests.echo
    ) throws -> (server: HTTPServer, port: Int) {
        let server = HTTPServer(listener: try HTTPListener(host: "127.0.0.1", port: 0), tls: tls, limits: limits, handler: handler, logger: HTTPTestClients.quietLogger)
        server.start()
        servers.append(server)
        return (server, Int(server.address.split(separator: ":").last!)!)
    }

    private func temporaryDirectory() throws -> URL {
        let directory = try HTTPTestClients.temporaryDirectory()
        directories.append(directory)
        return directory
    }

    /// What the echo handler answers: the request as the handler saw it.
    private struct Echo: Codable {
        let method: String
        let path: String
        let query: [String: String]
        let test: String?
        let body: String
        let peer: String
        let peerUID: UInt32?
    }

    @Sendable private static func echo(_ request: HTTPRequest) -> HTTPReply {
        .response(.json(Echo(
            method: request.method, path: request.path, query: request.query, test: request.headers["x-test"],
            body: String(decoding: request.body, as: UTF8.self), peer: request.peer, peerUID: request.peerUID
        )))
    }

    private func echoed(_ result: HTTPTestClients.CurlResult, file: StaticString = #filePath, line: UInt = #line) throws -> Echo {
        XCTAssertEqual(result.exitCode, 0, result.errors, file: file, line: line)
        let body = try XCTUnwrap(result.output.components(separatedBy: "\r\n\r\n").last, file: file, line: line)
        return try JSONDecoder().decode(Echo.self, from: Data(body.utf8))
    }

    // MARK: plain HTTP

    func testGetAndPostThroughCurl() throws {
        let (_, port) = try start()
        let get = try HTTPTestClients.curl(["-H", "X-Test: hello", "http://127.0.0.1:\(port)/routes/a%20b?x=1&y=two+words"])
        XCTAssertTrue(get.output.hasPrefix("HTTP/1.1 200 OK\r\n"), get.output)
        for header in ["Content-Type: application/json", "Connection: close", "X-Content-Type-Options: nosniff", "Referrer-Policy: no-referrer",
                       "X-Frame-Options: DENY", "Cache-Control: no-store", "Date: "] {
            XCTAssertTrue(get.output.contains("\r\n\(header)"), header)
        }
        let echo = try echoed(get)
        XCTAssertEqual(echo.method, "GET")
        XCTAssertEqual(echo.path, "/routes/a b")
        XCTAssertEqual(echo.query, ["x": "1", "y": "two words"])
        XCTAssertEqual(echo.test, "hello")
        XCTAssertTrue(echo.peer.hasPrefix("127.0.0.1:"), echo.peer)
        XCTAssertNil(echo.peerUID)

        let post = try echoed(HTTPTestClients.curl(["--data-binary", "{\"name\":\"alice\"}", "-H", "Content-Type: application/json", "http://127.0.0.1:\(port)/routes"]))
        XCTAssertEqual(post.method, "POST")
        XCTAssertEqual(post.body, "{\"name\":\"alice\"}")

        let head = try HTTPTestClients.curl(["-I", "http://127.0.0.1:\(port)/x"])
        XCTAssertTrue(head.output.hasPrefix("HTTP/1.1 200 OK\r\n"))
        XCTAssertTrue(head.output.contains("Content-Length: "))
        XCTAssertTrue(head.output.hasSuffix("\r\n\r\n"), "HEAD gets the head only")
    }

    func testLargeBodiesWithAndWithoutExpectContinue() throws {
        let (_, port) = try start()
        let directory = try temporaryDirectory()
        let fits = directory.appendingPathComponent("fits")
        try Data(repeating: UInt8(ascii: "a"), count: 1 << 20).write(to: fits)
        let accepted = try echoed(HTTPTestClients.curl(["-H", "Expect: 100-continue", "--data-binary", "@\(fits.path)", "http://127.0.0.1:\(port)/upload"]))
        XCTAssertEqual(accepted.body.utf8.count, 1 << 20)

        let tooLarge = directory.appendingPathComponent("too-large")
        try Data(repeating: UInt8(ascii: "a"), count: 3 << 20).write(to: tooLarge)
        for expect in ["Expect: 100-continue", "Expect:"] {
            let refused = try HTTPTestClients.curl(["-H", expect, "--data-binary", "@\(tooLarge.path)", "http://127.0.0.1:\(port)/upload"])
            XCTAssertTrue(refused.output.contains("HTTP/1.1 413 Content Too Large\r\n"), "\(expect): \(refused.output) \(refused.errors)")
        }
    }

    func testMalformedRequestsAreRefusedAndTheServerGoesOn() throws {
        var limits = HTTPServer.Limits()
        limits.requestDeadline = .seconds(3)
        let (_, port) = try start(limits: limits)
        let answers = [
            ("BROKEN\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
            ("GET /a%00b HTTP/1.1\r\nHost: g\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
            ("GET / HTTP/1.1\r\nHost: g\r\nX-Folded: a\r\n b\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
            ("POST / HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "HTTP/1.1 501 Not Implemented\r\n"),
            ("POST / HTTP/1.1\r\nHost: g\r\n\r\n", "HTTP/1.1 411 Length Required\r\n"),
            ("GET / HTTP/1.1\r\nHost: g\r\nX-Long: \(String(repeating: "a", count: 20 << 10))\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            ("GET / HTTP/3.0\r\nHost: g\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported\r\n"),
        ]
        for (request, status) in answers {
            let answer = HTTPTestClients.exchange(port: port, request)
            XCTAssertTrue(answer.hasPrefix(status), "\(request.prefix(60).debugDescription): \(answer.prefix(200))")
            XCTAssertTrue(answer.contains("\r\nConnection: close\r\n"))
        }
        let half = HTTPTestClients.connect(port: port)
        HTTPTestClients.send(half, Array("GET /half HTTP/1.1\r\nHo".utf8))
        close(half)
        let binary = HTTPTestClients.exchange(port: port, (0..<4096).map { _ in UInt8.random(in: 0...255) })
        XCTAssertTrue(binary.isEmpty || binary.hasPrefix("HTTP/1.1 4"), binary.prefix(100).debugDescription)
        XCTAssertEqual(try echoed(HTTPTestClients.curl(["http://127.0.0.1:\(port)/still-here"])).path, "/still-here")
    }

    func testAnUnsendableHeaderBecomesA500() throws {
        let (_, port) = try start { _ in
            .response(HTTPResponse(status: 200, headers: [("X-Injected", "a\r\nSet-Cookie: session=stolen")], body: Array("hello".utf8)))
        }
        let result = try HTTPTestClients.curl(["http://127.0.0.1:\(port)/"])
        XCTAssertTrue(result.output.hasPrefix("HTTP/1.1 500 Internal Server Error\r\n"), result.output)
        XCTAssertFalse(result.output.contains("Set-Cookie"))
        XCTAssertFalse(result.output.contains("hello"))
    }

    func testSilentConnectionsCannotStopALaterRequest() throws {
        var limits = HTTPServer.Limits()
        limits.requestDeadline = .seconds(5)
        let (server, port) = try start(limits: limits)
        let silent = (0..<(limits.maximumConnections + 16)).map { _ in HTTPTestClients.connect(port: port) }
        defer { silent.forEach { close($0) } }
        XCTAssertTrue(HTTPTestClients.eventually(within: .seconds(15)) { server.activeConnections == limits.maximumConnections }, "\(server.activeConnections)")
        XCTAssertTrue(HTTPTestClients.eventually(within: .seconds(20)) { server.activeConnections == 0 }, "\(server.activeConnections)")
        for fd in silent {
            XCTAssertEqual(HTTPTestClients.readToEnd(fd), [], "closed without an answer")
        }
        XCTAssertEqual(try echoed(HTTPTestClients.curl(["http://127.0.0.1:\(port)/after"])).path, "/after")
    }

    func testADripFeedingClientIsCutAtTheRequestDeadline() throws {
        var limits = HTTPServer.Limits()
        limits.requestDeadline = .seconds(2)
        let (_, port) = try start(limits: limits)
        let drip = HTTPTestClients.connect(port: port)
        defer { close(drip) }
        let cut = Mutex<ContinuousClock.Instant?>(nil)
        let reader = Thread {
            _ = HTTPTestClients.readToEnd(drip)
            cut.withLock { $0 = .now }
        }
        reader.start()
        let started = ContinuousClock.now
        for (index, byte) in "GET /slow HTTP/1.1\r\nHost: gateway\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n".utf8.enumerated() {
            if cut.withLock({ $0 }) != nil { break }
            HTTPTestClients.send(drip, [byte])
            Thread.sleep(forTimeInterval: 0.2)
            if index == 2 {
                XCTAssertEqual(try echoed(HTTPTestClients.curl(["http://127.0.0.1:\(port)/meanwhile"])).path, "/meanwhile")
            }
        }
        XCTAssertTrue(HTTPTestClients.eventually(within: .seconds(15)) { cut.withLock { $0 } != nil })
        let elapsed = try XCTUnwrap(cut.withLock { $0 }) - started
        XCTAssertLessThan(elapsed, .seconds(15), "cut near the 2 s deadline though bytes kept coming")
    }

    // MARK: streams

    /// What a stream's body saw, for the test to check.
    private final class StreamLog: Sendable {
        let waits = Mutex<[HTTPStreamWait]>([])
        let ended = Mutex<ContinuousClock.Instant?>(nil)
        let failedWrite = Mutex<Duration?>(nil)
        /// After the failed write: whether another write succeeded, and what a wait said.
        let afterFailure = Mutex<(written: Bool, wait: HTTPStreamWait)?>(nil)
    }

    /// A server-sent events stream: "tick" at once, "event" whenever `wakeUp` is readable,
    /// until the client goes.
    private func eventStream(wakeUp: Int32, log: StreamLog) -> @Sendable (HTTPRequest) -> HTTPReply {
        { _ in
            .stream(head: HTTPResponse(status: 200, headers: [("Content-Type", "text/event-stream")])) { stream in
                defer { log.ended.withLock { $0 = .now } }
                guard stream.write("data: tick\n\n") else { return }
                while true {
                    let wait = stream.wait(forReadable: wakeUp, timeout: .seconds(60))
                    log.waits.withLock { $0.append(wait) }
                    guard wait == .otherReady else { return }
                    var byte: UInt8 = 0
                    _ = read(wakeUp, &byte, 1)
                    guard stream.write("data: event\n\n") else { return }
                }
            }
        }
    }

    private func pipeEnds() -> (read: Int32, write: Int32) {
        var ends: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&ends), 0)
        return (ends[0], ends[1])
    }

    func testAStreamSeesTheClientGoPromptly() throws {
        let wakeUp = pipeEnds()
        defer { close(wakeUp.read); close(wakeUp.write) }
        let log = StreamLog()
        let (_, port) = try start(handler: eventStream(wakeUp: wakeUp.read, log: log))
        let client = HTTPTestClients.connect(port: port)
        HTTPTestClients.send(client, Array("GET /sessions/7/live HTTP/1.1\r\nHost: g\r\nAccept: text/event-stream\r\n\r\n".utf8))
        let head = HTTPTestClients.read(client, until: "data: tick\n\n")
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 200 OK\r\n"), head)
        XCTAssertTrue(head.contains("Content-Type: text/event-stream\r\n"))
        XCTAssertTrue(head.contains("Cache-Control: no-store\r\n"))
        XCTAssertFalse(head.contains("Content-Length"))
        XCTAssertEqual(write(wakeUp.write, "x", 1), 1)
        XCTAssertTrue(HTTPTestClients.read(client, until: "data: event\n\n").contains("data: event"))
        let closed = ContinuousClock.now
        close(client)
        XCTAssertTrue(HTTPTestClients.eventually(within: .seconds(15)) { log.ended.withLock { $0 } != nil }, "the stream ended")
        XCTAssertEqual(log.waits.withLock { $0 }, [.otherReady, .peerClosed])
        XCTAssertLessThan(try XCTUnwrap(log.ended.withLock { $0 }) - closed, .seconds(15))
    }

    func testAStreamWaitTimesOut() throws {
        let wakeUp = pipeEnds()
        defer { close(wakeUp.read); close(wakeUp.write) }
        let waited = Mutex<(HTTPStreamWait, Duration)?>(nil)
        let (_, port) = try start { _ in
            .stream(head: HTTPResponse(status: 200)) { stream in
                let started = ContinuousClock.now
                let wait = stream.wait(forReadable: wakeUp.read, timeout: .milliseconds(300))
                waited.withLock { $0 = (wait, .now - started) }
                stream.write("done\n")
            }
        }
        let answer = HTTPTestClients.exchange(port: port, "GET / HTTP/1.1\r\nHost: g\r\n\r\n")
        XCTAssertTrue(answer.hasSuffix("\r\n\r\ndone\n"), answer)
        let (wait, duration) = try XCTUnwrap(waited.withLock { $0 })
        XCTAssertEqual(wait, .timeout)
        XCTAssertGreaterThanOrEqual(duration, .milliseconds(250))
    }

    func testAReaderThatNeverReadsCannotHoldItsWriter() throws {
        var limits = HTTPServer.Limits()
        limits.streamSendDeadline = .seconds(2)
        let log = StreamLog()
        let (_, port) = try start(limits: limits) { _ in
            .stream(head: HTTPResponse(status: 200, headers: [("Content-Type", "application/octet-stream")])) { stream in
                let chunk = [UInt8](repeating: 0x2A, count: 64 << 10)
                for _ in 0..<16_384 {
                    let started = ContinuousClock.now
                    guard stream.write(chunk) else {
                        log.failedWrite.withLock { $0 = .now - started }
                        let written = stream.write([1])
                        let wait = stream.wait(forReadable: -1, timeout: .seconds(5))
                        log.afterFailure.withLock { $0 = (written, wait) }
                        break
                    }
                }
                log.ended.withLock { $0 = .now }
            }
        }
        let client = HTTPTestClients.connect(port: port, receiveBuffer: 4096)
        defer { close(client) }
        HTTPTestClients.send(client, Array("GET /firehose HTTP/1.1\r\nHost: g\r\n\r\n".utf8))
        XCTAssertTrue(HTTPTestClients.eventually(within: .seconds(60)) { log.ended.withLock { $0 } != nil }, "the writer gave up")
        let failed = try XCTUnwrap(log.failedWrite.withLock { $0 }, "a write failed")
        XCTAssertGreaterThanOrEqual(failed, .seconds(1), "it waited for the reader first")
        XCTAssertLessThan(failed, .seconds(15), "but not much longer than the 2 s send deadline")
        let afterFailure = try XCTUnwrap(log.afterFailure.withLock { $0 })
        XCTAssertFalse(afterFailure.written, "the stream stays over")
        XCTAssertEqual(afterFailure.wait, .peerClosed)
    }

    // MARK: TLS

    func testTLSServesCurlAndSurvivesPlainTextAndGarbage() throws {
        let (certificate, key) = try HTTPTestClients.makeCertificate(in: try temporaryDirectory())
        var limits = HTTPServer.Limits()
        limits.requestDeadline = .seconds(3)
        let (_, port) = try start(tls: try TLSServerContext(certificateFile: certificate, keyFile: key), limits: limits)
        let url = "https://127.0.0.1:\(port)/routes?name=alice"
        let first = try echoed(HTTPTestClients.curl(["--cacert", certificate, url]))
        XCTAssertEqual(first.path, "/routes")
        XCTAssertEqual(first.query, ["name": "alice"])

        let plain = try HTTPTestClients.curl(["http://127.0.0.1:\(port)/plain"])
        XCTAssertNotEqual(plain.exitCode, 0, "plain HTTP to the TLS port fails")
        XCTAssertFalse(plain.output.contains("200 OK"))
        let raw = HTTPTestClients.exchange(port: port, "GET / HTTP/1.1\r\nHost: g\r\n\r\n")
        XCTAssertFalse(raw.hasPrefix("HTTP/"), "no answer in plain text: \(raw.debugDescription)")
        _ = HTTPTestClients.exchange(port: port, (0..<2048).map { _ in UInt8.random(in: 0...255) })
        _ = HTTPTestClients.exchange(port: port, [0x16, 0x03, 0x01, 0x40, 0x00, 0x01])
        XCTAssertEqual(try HTTPTestClients.curl(["-k", "--tls-max", "1.1", url]).exitCode == 0, false, "TLS 1.1 is refused")
        XCTAssertEqual(try echoed(HTTPTestClients.curl(["--tlsv1.2", "--tls-max", "1.2", "--cacert", certificate, url])).path, "/routes")
        XCTAssertEqual(try echoed(HTTPTestClients.curl(["--cacert", certificate, url])).query, ["name": "alice"])
    }

    func testATLSStreamSeesTheClientGo() throws {
        let (certificate, key) = try HTTPTestClients.makeCertificate(in: try temporaryDirectory())
        let wakeUp = pipeEnds()
        defer { close(wakeUp.read); close(wakeUp.write) }
        let log = StreamLog()
        let (_, port) = try start(tls: try TLSServerContext(certificateFile: certificate, keyFile: key), handler: eventStream(wakeUp: wakeUp.read, log: log))
        XCTAssertEqual(write(wakeUp.write, "x", 1), 1)
        let curl = try HTTPTestClients.launchCurl(["-N", "--max-time", "4", "--cacert", certificate, "https://127.0.0.1:\(port)/live"])
        let output = String(decoding: curl.output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        curl.process.waitUntilExit()
        XCTAssertEqual(curl.process.terminationStatus, 28, "curl stopped at its own time limit")
        XCTAssertEqual(output, "data: tick\n\ndata: event\n\n")
        XCTAssertTrue(HTTPTestClients.eventually(within: .seconds(15)) { log.ended.withLock { $0 } != nil }, "the stream ended")
        XCTAssertEqual(log.waits.withLock { $0 }, [.otherReady, .peerClosed])
    }

    func testUnusableCertificatesAndKeysAreRefusedNamingTheFile() throws {
        let directory = try temporaryDirectory()
        let (certificate, _) = try HTTPTestClients.makeCertificate(in: directory, name: "one")
        let (_, otherKey) = try HTTPTestClients.makeCertificate(in: directory, name: "two")
        let garbage = directory.appendingPathComponent("garbage.pem").path
        try Data("not a key".utf8).write(to: URL(fileURLWithPath: garbage))
        let missing = directory.appendingPathComponent("missing.crt").path

        for (certificateFile, keyFile, code, named) in [
            (certificate, otherKey, TLSError.Code.privateKey, otherKey), (certificate, garbage, .privateKey, garbage),
            (missing, otherKey, .certificate, missing), (garbage, otherKey, .certificate, garbage),
        ] {
            XCTAssertThrowsError(try TLSServerContext(certificateFile: certificateFile, keyFile: keyFile)) { error in
                let error = error as? TLSError
                XCTAssertEqual(error?.code, code, "\(String(describing: error))")
                XCTAssertTrue(error?.message.contains(named) ?? false, "\(String(describing: error))")
            }
        }
    }

    // MARK: Unix-domain socket

    func testAUnixSocketIsPrivateAndTellsTheClientsUID() throws {
        let path = try temporaryDirectory().appendingPathComponent("admin.sock").path
        let server = HTTPServer(listener: try HTTPListener(unixSocketPath: path), tls: nil, handler: Self.echo, logger: HTTPTestClients.quietLogger)
        server.start()
        servers.append(server)
        XCTAssertEqual(server.address, "unix:\(path)")
        var status = stat()
        XCTAssertEqual(lstat(path, &status), 0)
        XCTAssertEqual(status.st_mode & 0o777, 0o600)

        let echo = try echoed(HTTPTestClients.curl(["--unix-socket", path, "http://localhost/whoami"]))
        XCTAssertEqual(echo.path, "/whoami")
        XCTAssertEqual(echo.peer, "unix")
        XCTAssertEqual(echo.peerUID, getuid())

        XCTAssertThrowsError(try HTTPListener(unixSocketPath: path), "a server still answers there") { error in
            XCTAssertTrue("\(error)".contains("another server"), "\(error)")
        }
    }

    func testAUnixSocketReplacesAStaleOneButNoOtherFile() throws {
        let directory = try temporaryDirectory()
        let stale = directory.appendingPathComponent("stale.sock").path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(stale.utf8)) }
        XCTAssertEqual(withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }, 0)
        close(fd)
        var listener: HTTPListener? = try HTTPListener(unixSocketPath: stale)
        XCTAssertNotNil(listener)
        listener = nil
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale), "removed with its listener")

        let regular = directory.appendingPathComponent("regular").path
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: regular))
        XCTAssertThrowsError(try HTTPListener(unixSocketPath: regular))
        XCTAssertEqual(try String(contentsOfFile: regular, encoding: .utf8), "keep me")
        XCTAssertThrowsError(try HTTPListener(unixSocketPath: directory.appendingPathComponent(String(repeating: "x", count: 120)).path))
    }
}
