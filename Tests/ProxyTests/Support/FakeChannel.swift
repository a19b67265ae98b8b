import SSH

@testable import Proxy

/// An in-memory channel end: `incoming` is what its peer sent (read from it), `delivered` what
/// was written to it, within a send window the test controls. As a session channel it answers
/// requests from `answers` (accepted when none is queued) and logs what was sent to its peer
/// in `events`.
final class FakeChannel: RelayedSessionChannel {
    var incoming: [ChannelStream: [UInt8]] = [.stdout: [], .stderr: []]
    var receivedEOF = false
    var readFailure = false
    var writeFailure = false
    var sendWindow = Int.max
    var outputBacklogged = false
    var peerIgnoredWindow = false
    /// What each successive write takes at most, whatever the window says (as during a rekey).
    var writeLimits: [Int] = []
    var receivedClose = false
    private(set) var closeSent = false
    private(set) var delivered: [ChannelStream: [UInt8]] = [.stdout: [], .stderr: []]
    private(set) var eofSent = false

    // As a session channel.
    var id: ObjectIdentifier { ObjectIdentifier(self) }
    var exitStatus: UInt32?
    var exitSignal: ExitSignal?
    var agentForwardingRequested = false
    var signals: [String] = []
    /// Successive answers to `openSession` and to requests; `.accepted` once they run out.
    var openAnswers: [RequestProgress] = []
    var answers: [RequestProgress] = []
    /// What was sent to this channel's peer, in order: "data", "eof", "exec", "exit-status 3", "close"…
    private(set) var events: [String] = []

    func bufferedByteCount(_ stream: ChannelStream) -> Int { incoming[stream]!.count }

    func read(into buffer: UnsafeMutableRawBufferPointer, from stream: ChannelStream) -> ReadResult {
        if readFailure { return .failed("read failed") }
        let waiting = incoming[stream]!
        guard !waiting.isEmpty else { return receivedEOF ? .endOfFile : .empty }
        let count = min(buffer.count, waiting.count)
        guard count > 0 else { return .empty }
        buffer.copyBytes(from: waiting.prefix(count))
        incoming[stream]!.removeFirst(count)
        return .bytes(count)
    }

    func write(_ bytes: UnsafeRawBufferPointer, to stream: ChannelStream) throws(SSHError) -> Int {
        if writeFailure { throw SSHError(.channel, "write failed") }
        let count = min(bytes.count, sendWindow, writeLimits.isEmpty ? .max : writeLimits.removeFirst())
        delivered[stream]! += bytes.prefix(count)
        if sendWindow != .max { sendWindow -= count }
        if count > 0 { events.append(stream == .stdout ? "data" : "stderr") }
        return count
    }

    func sendEOF() {
        eofSent = true
        events.append("eof")
    }

    func text(_ stream: ChannelStream) -> String { String(decoding: delivered[stream]!, as: UTF8.self) }

    func takeAgentForwardingRequest() -> Bool {
        defer { agentForwardingRequested = false }
        return agentForwardingRequested
    }

    func takeSignals() -> [String] {
        defer { signals.removeAll() }
        return signals
    }

    func openSession() -> RequestProgress { openAnswers.isEmpty ? .accepted : openAnswers.removeFirst() }

    private func answer(_ event: String) -> RequestProgress {
        let progress = answers.isEmpty ? .accepted : answers.removeFirst()
        if progress != .pending { events.append(event) }
        return progress
    }

    func send(_ request: SSHRequest.ChannelRequest) -> RequestProgress { answer(request.name) }
    func sendSignal(_ name: String) -> RequestProgress { answer("signal \(name)") }
    func requestAgentForwarding() -> RequestProgress { answer("auth-agent-req") }
    func sendExitStatus(_ status: UInt32) { events.append("exit-status \(status)") }
    func sendExitSignal(_ exit: ExitSignal) { events.append("exit-signal \(exit.signal)") }

    func close() {
        closeSent = true
        events.append("close")
    }
}

/// A client request waiting for the proxy's answer; `opens` is the channel a confirmed open
/// request becomes.
final class FakeRequest: PendingRequest {
    enum Answer: Equatable {
        case accepted
        case refused
        case dropped
    }

    private(set) var answer: Answer?
    let opens: FakeChannel

    init(opens: FakeChannel = FakeChannel()) {
        self.opens = opens
    }

    func accept() { answer = answer ?? .accepted }
    func refuse() { answer = answer ?? .refused }
    func dropWithoutReply() { answer = answer ?? .dropped }

    func acceptChannelOpen() throws(SSHError) -> FakeChannel {
        answer = answer ?? .accepted
        return opens
    }
}
