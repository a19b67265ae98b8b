import Foundation
import Logging
import XCTest

@testable import Proxy

/// Clients for the HTTP server tests: real curl, and raw sockets for what curl will not send.
enum HTTPTestClients {
    /// What a finished curl gave.
    struct CurlResult {
        let exitCode: Int32
        /// The response with its head (`-i`).
        let output: String
        let errors: String
    }

    /// Runs curl with `arguments` (after `-sS -i` and a 20 s limit) and waits for it.
    static func curl(_ arguments: [String]) throws -> CurlResult {
        let process = try launchCurl(["-i", "--max-time", "20"] + arguments)
        let output = process.output.fileHandleForReading.readDataToEndOfFile()
        let errors = process.errors.fileHandleForReading.readDataToEndOfFile()
        process.process.waitUntilExit()
        return CurlResult(exitCode: process.process.terminationStatus, output: String(decoding: output, as: UTF8.self), errors: String(decoding: errors, as: UTF8.self))
    }

    /// Starts curl with `arguments` (after `-sS`); the caller reads its pipes and waits.
    static func launchCurl(_ arguments: [String]) throws -> (process: Process, output: Pipe, errors: Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-sS"] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        return (process, output, errors)
    }

    /// A TCP socket connected to 127.0.0.1:`port`, whose reads give up after `readTimeout` seconds.
    static func connect(port: Int, receiveBuffer: Int32? = nil, readTimeout: Int = 20) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0)
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var timeout = timeval(tv_sec: readTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        precondition(rc == 0, "connect: \(errno)")
        return fd
    }

    /// Sends `bytes` whole.
    static func send(_ fd: Int32, _ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return }
            sent += count
        }
    }

    /// Reads until the server closes (or resets, or the read timeout passes).
    static func readToEnd(_ fd: Int32) -> [UInt8] {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return received }
            received += buffer[..<count]
        }
    }

    /// Reads until `marker` has arrived (or the connection ends); everything read so far.
    static func read(_ fd: Int32, until marker: String) -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: received, as: UTF8.self).contains(marker) {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += buffer[..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Sends `text` on a new connection and returns all the server answers before it closes.
    static func exchange(port: Int, _ text: String) -> String {
        exchange(port: port, Array(text.utf8))
    }

    static func exchange(port: Int, _ bytes: [UInt8]) -> String {
        let fd = connect(port: port)
        defer { close(fd) }
        send(fd, bytes)
        return String(decoding: readToEnd(fd), as: UTF8.self)
    }

    /// Waits until `condition` holds, checking every 50 ms; false if it did not within `timeout`.
    static func eventually(within timeout: Duration, _ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition()
    }

    /// A logger that keeps the test output quiet.
    static var quietLogger: Logger {
        var logger = Logger(label: "http-test")
        logger.logLevel = .critical
        return logger
    }

    /// A self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost, made by openssl in
    /// `directory`: the certificate's and the key's paths.
    static func makeCertificate(in directory: URL, name: String = "server") throws -> (certificate: String, key: String) {
        let certificate = directory.appendingPathComponent("\(name).crt").path
        let key = directory.appendingPathComponent("\(name).key").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", certificate,
            "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
        return (certificate, key)
    }

    /// A new private temporary directory.
    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-http-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }
}
