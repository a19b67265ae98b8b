import Foundation
import RouteStore

/// `/v1/sessions…`: the audit trail, ending a running session (on whichever node holds it),
/// recordings, and the live stream of a terminal this node relays.
extension AdminAPI {
    /// How long `DELETE /v1/sessions/{id}` waits to see the session end, as `sessions kill` does.
    static let endWait = 10.0
    /// A stream sends a comment this often, so proxies and browsers keep the connection open.
    static let keepaliveInterval: Duration = .seconds(15)

    /// A session as the API shows it: the audit record (live byte counts while it runs on this
    /// node), whether it can be watched here and whether it has a recording.
    struct SessionView: Encodable {
        let record: SessionRecord
        let live: Bool
        let hasRecording: Bool

        private enum ExtraKeys: String, CodingKey {
            case live
            case hasRecording
        }

        func encode(to encoder: any Encoder) throws {
            try record.encode(to: encoder)
            var extra = encoder.container(keyedBy: ExtraKeys.self)
            try extra.encode(live, forKey: .live)
            try extra.encode(hasRecording, forKey: .hasRecording)
        }
    }

    func view(_ record: SessionRecord) -> SessionView {
        var record = record
        var live = false
        if record.endedAt == nil, let bytes = context.live.liveBytes(sessionID: record.id) {
            record.bytesToUpstream = bytes.toUpstream
            record.bytesToClient = bytes.toClient
            live = true
        }
        return SessionView(record: record, live: live, hasRecording: record.recordingPath != nil)
    }

    func listSessions(_ request: HTTPRequest) throws -> HTTPResponse {
        var filter = SessionFilter()
        switch request.query["active"] {
        case nil, "false": break
        case "true": filter.activeOnly = true
        default: throw AdminAPIError.badRequest("parameter active must be true or false")
        }
        if let since = request.query["since"] {
            guard let seconds = SessionControl.seconds(in: since) else {
                throw AdminAPIError.badRequest("parameter since takes a number and a unit (s, m, h, d), e.g. 30m")
            }
            filter.since = Date().addingTimeInterval(-seconds)
        }
        if let user = request.query["user"], !user.isEmpty { filter.login = user }
        filter.limit = try integerParameter(request, "limit", default: 100, range: 1...1000)
        return .apiJSON(status: 200, ["sessions": try store.sessions(matching: filter).map(view)])
    }

    func session(_ id: Int64) throws -> SessionRecord {
        guard let record = try store.sessions(matching: SessionFilter(id: id)).first else {
            throw AdminAPIError(404, "session-not-found", "no session with id \(id)")
        }
        return record
    }

    func showSession(_ id: Int64) throws -> HTTPResponse {
        .apiJSON(status: 200, view(try session(id)))
    }

    /// Asks the node holding the session to end it (recorded), then waits to see it end.
    func endSession(_ id: Int64, caller: Caller) throws -> HTTPResponse {
        _ = try session(id)
        let request = try recorded(caller, "session.end", String(id)) { () throws(RouteStoreError) in
            try store.requestKill(sessionID: id)
        }
        guard let ended = try SessionControl.waitForEnd(of: id, in: store, seconds: Self.endWait) else {
            throw AdminAPIError(
                504, "session-still-running",
                "asked \(request.nodeName ?? "an unknown node") to end session \(id), but it was still running after \(Int(Self.endWait)) s")
        }
        return .apiJSON(status: 200, view(ended))
    }

    /// The session's asciicast file, if this node has it, sent in pieces as the reader takes
    /// them. Only a regular file named like a recording (`<audit id>[-n].cast`) is sent, never
    /// through a symbolic link.
    func recording(of id: Int64) throws -> HTTPReply {
        let record = try session(id)
        guard let path = record.recordingPath else { throw AdminAPIError(404, "no-recording", "session \(id) has no recording") }
        let name = (path as NSString).lastPathComponent
        guard name.hasSuffix(".cast"), name.dropLast(5).allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }) else {
            throw AdminAPIError(404, "no-recording", "session \(id)'s recording path is not a recording's")
        }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        var status = stat()
        guard fd >= 0, fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            if fd >= 0 { close(fd) }
            let elsewhere = record.nodeID != nil && record.nodeID != context.nodeID
            throw AdminAPIError(
                404, "no-recording",
                elsewhere ? "session \(id)'s recording is on node \(record.nodeName ?? "?"), not on this one" : "cannot read session \(id)'s recording")
        }
        let file = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let head = HTTPResponse(
            status: 200,
            headers: [("Content-Type", "application/x-asciicast"), ("Content-Disposition", "attachment; filename=\"session-\(id).cast\"")],
            body: [])
        return .stream(head: head) { [self] stream in
            guard let slot = StreamSlot(self) else { return }
            defer { slot.release() }
            while let chunk = try? file.read(upToCount: 64 << 10), !chunk.isEmpty {
                guard stream.write(Array(chunk)) else { return }
            }
        }
    }

    /// One of the `maximumStreams` places for a long answer, taken when its body starts.
    struct StreamSlot {
        private let api: AdminAPI

        init?(_ api: AdminAPI) {
            let open = api.streamsOpen.add(1, ordering: .relaxed).newValue
            guard open <= AdminAPI.maximumStreams else {
                api.streamsOpen.subtract(1, ordering: .relaxed)
                return nil
            }
            ProxyMetrics.adminStreams(open)
            self.api = api
        }

        func release() { ProxyMetrics.adminStreams(api.streamsOpen.subtract(1, ordering: .relaxed).newValue) }
    }

    /// Server-sent events of the session's terminal: the asciicast v2 header, then one event
    /// per output or resize, then `event: end`. The relay never waits for this reader: a
    /// reader that falls behind is dropped (`too-slow`).
    func streamSession(_ id: Int64, caller: Caller) throws -> HTTPReply {
        let record = try session(id)
        guard record.endedAt == nil else { throw RouteStoreError.sessionNotRunning(id) }
        guard context.live.holdsSession(id) else {
            if let node = record.nodeID, node != context.nodeID {
                throw AdminAPIError(
                    409, "session-on-other-node",
                    "session \(id) runs on node \(record.nodeName ?? node): watch it through that node's admin listener")
            }
            throw RouteStoreError.sessionNotRunning(id)
        }
        guard streamsOpen.load(ordering: .relaxed) < Self.maximumStreams else {
            throw AdminAPIError(429, "too-many-watchers", "\(Self.maximumStreams) long answers (streams, downloads) are running already; close one first")
        }
        logger.notice("admin watch", metadata: ["admin.token": "\(caller.name)", "session.id": "\(id)"])
        let head = HTTPResponse(
            status: 200, headers: [("Content-Type", "text/event-stream; charset=utf-8"), ("X-Accel-Buffering", "no")], body: [])
        return .stream(head: head) { [self] stream in
            guard let slot = StreamSlot(self) else {
                _ = stream.write(Self.serverSentEvent(data: "{\"reason\":\"too-many-watchers\"}", event: "end"))
                return
            }
            defer { slot.release() }
            // The watcher is made and used on this request's own thread.
            guard let watcher = try? context.live.watch(sessionID: id, bufferLimit: SessionWatcher.defaultBufferLimit) else {
                _ = stream.write(Self.serverSentEvent(data: "{\"reason\":\"session-ended\"}", event: "end"))
                return
            }
            relay(watcher, to: stream, for: caller)
        }
    }

    /// Writes the watcher's events to `stream` until the session ends, the watcher is dropped,
    /// the reader goes away, or the caller's token is revoked (checked at each keepalive).
    func relay(_ watcher: SessionWatcher, to stream: HTTPStream, for caller: Caller) {
        defer { watcher.detach() }
        let reason = follow(watcher, to: stream, for: caller)
        ProxyMetrics.watchEnded(reason: reason)
    }

    /// The loop of `relay`; returns why it ended.
    private func follow(_ watcher: SessionWatcher, to stream: HTTPStream, for caller: Caller) -> String {
        guard stream.write(Self.serverSentEvent(data: watcher.header())) else { return "reader-gone" }
        while true {
            switch stream.wait(forReadable: watcher.wakeDescriptor, timeout: Self.keepaliveInterval) {
            case .peerClosed:
                return "reader-gone"
            case .timeout:
                if let hash = caller.tokenHash, (try? store.activeAdminToken(tokenHash: hash)) == nil {
                    _ = stream.write(Self.serverSentEvent(data: "{\"reason\":\"token-revoked\"}", event: "end"))
                    return "token-revoked"
                }
                guard stream.write(Array(": keepalive\n\n".utf8)) else { return "reader-gone" }
            case .otherReady:
                let (events, end) = watcher.take()
                var bytes: [UInt8] = []
                for event in events { bytes += Self.serverSentEvent(data: event) }
                if let end { bytes += Self.serverSentEvent(data: "{\"reason\":\"\(end.rawValue)\"}", event: "end") }
                guard bytes.isEmpty || stream.write(bytes) else { return end?.rawValue ?? "reader-gone" }
                if let end { return end.rawValue }
            }
        }
    }

    /// One server-sent event; `data` is one line of JSON (no line breaks).
    static func serverSentEvent(data: String, event: String? = nil) -> [UInt8] {
        Array(((event.map { "event: \($0)\n" } ?? "") + "data: \(data)\n\n").utf8)
    }
}
