import SSH

@testable import Proxy

/// An in-memory channel end for the direction pump: `incoming` is what its peer sent (read
/// from it), `delivered` what was written to it, within a send window the test controls.
final class FakeChannel: PumpableChannel {
    var incoming: [ChannelStream: [UInt8]] = [.stdout: [], .stderr: []]
    var receivedEOF = false
    var readFailure = false
    var writeFailure = false
    var sendWindow = Int.max
    /// What each successive write takes at most, whatever the window says (as during a rekey).
    var writeLimits: [Int] = []
    var receivedClose = false
    var closeSent = false
    private(set) var delivered: [ChannelStream: [UInt8]] = [.stdout: [], .stderr: []]
    private(set) var eofSent = false

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
        return count
    }

    func sendEOF() { eofSent = true }
}
