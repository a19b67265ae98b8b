import SSH

/// Moves data one way between two channels, for stdout and stderr separately, never reading
/// more than the receiving side's window allows, keeping what could not be written, and
/// sending EOF only after everything before it has been delivered.
///
/// An idle pump holds no buffer: data is read into a transient buffer sized to what is
/// waiting and written on from there; only bytes the sink did not take are kept.
struct DirectionPump {
    /// Largest read per step; also libssh's channel packet size.
    static let chunkSize = 32 * 1024

    /// How a stream of the source ended: a clean EOF is forwarded, a failure is not.
    private enum StreamEnd {
        case open
        case endOfFile
        case failed
    }

    private var pending: [[UInt8]] = [[], []]
    private var ends: [StreamEnd] = [.open, .open]
    /// Sees every byte delivered (both streams), e.g. a session recorder.
    var observer: ((UnsafeRawBufferPointer) -> Void)?
    private var eofSent = false
    private(set) var bytesMoved = 0

    /// True when the source has sent EOF and all its data has been delivered.
    var isDrained: Bool { ends.allSatisfy { $0 == .endOfFile } && pending.allSatisfy(\.isEmpty) }

    mutating func pump(from source: SSHChannel, to sink: SSHChannel) -> Bool {
        var moved = false
        for stream in 0...1 {
            moved = pumpStream(stream, from: source, to: sink) || moved
        }
        if isDrained && !eofSent {
            eofSent = true
            if !sink.closeSent && !sink.receivedClose { sink.sendEOF() }
            moved = true
        }
        return moved
    }

    private mutating func pumpStream(_ stream: Int, from source: SSHChannel, to sink: SSHChannel) -> Bool {
        let isStderr = stream == 1
        var moved = false
        if !pending[stream].isEmpty {
            let unsent = pending[stream]
            guard let written = unsent.withUnsafeBytes({ deliver($0, stream: stream, to: sink) }) else { return true }
            guard written > 0 else { return false }
            pending[stream].removeFirst(written)
            guard pending[stream].isEmpty else { return true }
            moved = true
        }
        while ends[stream] == .open {
            let waiting = source.bufferedByteCount(stderr: isStderr)
            // With nothing waiting, an empty read still tells whether the stream has ended.
            let limit = min(waiting, sink.sendWindow, Self.chunkSize)
            if waiting > 0 && limit == 0 { return moved }
            let step = withUnsafeTemporaryAllocation(byteCount: limit, alignment: 16) { buffer in
                relayChunk(stream, from: source, through: buffer, to: sink)
            }
            switch step {
            case .moved: moved = true
            case .stalled: return true
            case .idle: return moved
            case .ended: return true
            }
        }
        return moved
    }

    private enum Step {
        /// A chunk went through whole.
        case moved
        /// The sink took only part; the rest is pending.
        case stalled
        /// Nothing waiting.
        case idle
        /// The stream ended (EOF or failure).
        case ended
    }

    /// Reads one chunk into `buffer` (empty when only EOF can be waiting) and writes it on.
    private mutating func relayChunk(_ stream: Int, from source: SSHChannel, through buffer: UnsafeMutableRawBufferPointer, to sink: SSHChannel) -> Step {
        switch source.read(into: buffer, stderr: stream == 1) {
        case .bytes(let count):
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            guard let written = deliver(chunk, stream: stream, to: sink) else { return .ended }
            guard written < count else { return .moved }
            pending[stream] = Array(chunk[written...])
            return .stalled
        case .empty:
            return .idle
        case .endOfFile:
            ends[stream] = .endOfFile
            return .ended
        case .failed:
            ends[stream] = .failed
            return .ended
        }
    }

    /// Writes what the sink takes now; nil if the sink is gone (then nothing more is sent).
    private mutating func deliver(_ bytes: UnsafeRawBufferPointer, stream: Int, to sink: SSHChannel) -> Int? {
        let written: Int
        do {
            written = try sink.write(bytes, stderr: stream == 1)
            if written > 0 { observer?(UnsafeRawBufferPointer(rebasing: bytes[0..<written])) }
        } catch {
            pending[stream].removeAll()
            ends[stream] = .failed
            return nil
        }
        bytesMoved += written
        return written
    }
}
