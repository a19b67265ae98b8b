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

    /// One stream's progress: bytes read but not yet taken by the sink, and how it ended.
    private struct StreamProgress {
        var unsent: [UInt8] = []
        var end = StreamEnd.open
    }

    private var streams = PerStream(StreamProgress())
    /// Sees every byte delivered (both streams), e.g. a session recorder.
    var observer: ((UnsafeRawBufferPointer) -> Void)?
    private var eofSent = false
    private(set) var bytesMoved = 0

    /// True when the source has sent EOF and all its data has been delivered.
    var isDrained: Bool {
        ChannelStream.allCases.allSatisfy { streams[$0].end == .endOfFile && streams[$0].unsent.isEmpty }
    }

    /// Moves what can move now; returns true if anything did.
    mutating func pump(from source: some PumpableChannel, to sink: some PumpableChannel) -> Bool {
        var moved = false
        for stream in ChannelStream.allCases {
            moved = pump(stream, from: source, to: sink) || moved
        }
        if isDrained && !eofSent {
            eofSent = true
            if !sink.closeSent && !sink.receivedClose { sink.sendEOF() }
            moved = true
        }
        return moved
    }

    private mutating func pump(_ stream: ChannelStream, from source: some PumpableChannel, to sink: some PumpableChannel) -> Bool {
        var moved = false
        if !streams[stream].unsent.isEmpty {
            let unsent = streams[stream].unsent
            guard let written = unsent.withUnsafeBytes({ deliver($0, of: stream, to: sink) }) else { return true }
            guard written > 0 else { return false }
            streams[stream].unsent.removeFirst(written)
            guard streams[stream].unsent.isEmpty else { return true }
            moved = true
        }
        while streams[stream].end == .open {
            let waiting = source.bufferedByteCount(stream)
            // With nothing waiting, an empty read still tells whether the stream has ended.
            let limit = min(waiting, sink.sendWindow, Self.chunkSize)
            if waiting > 0 && limit == 0 { return moved }
            let step = withUnsafeTemporaryAllocation(byteCount: limit, alignment: 16) { buffer in
                relayChunk(of: stream, from: source, through: buffer, to: sink)
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
        /// The sink took only part; the rest is kept as unsent.
        case stalled
        /// Nothing waiting.
        case idle
        /// The stream ended (EOF or failure).
        case ended
    }

    /// Reads one chunk into `buffer` (empty when only EOF can be waiting) and writes it on.
    private mutating func relayChunk(
        of stream: ChannelStream, from source: some PumpableChannel, through buffer: UnsafeMutableRawBufferPointer,
        to sink: some PumpableChannel
    ) -> Step {
        switch source.read(into: buffer, from: stream) {
        case .bytes(let count):
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            guard let written = deliver(chunk, of: stream, to: sink) else { return .ended }
            guard written < count else { return .moved }
            streams[stream].unsent = Array(chunk[written...])
            return .stalled
        case .empty:
            return .idle
        case .endOfFile:
            streams[stream].end = .endOfFile
            return .ended
        case .failed:
            streams[stream].end = .failed
            return .ended
        }
    }

    /// Writes what the sink takes now; nil if the sink is gone (then nothing more is sent).
    private mutating func deliver(_ bytes: UnsafeRawBufferPointer, of stream: ChannelStream, to sink: some PumpableChannel) -> Int? {
        let written: Int
        do {
            written = try sink.write(bytes, to: stream)
            if written > 0 { observer?(UnsafeRawBufferPointer(rebasing: bytes[0..<written])) }
        } catch {
            streams[stream].unsent.removeAll()
            streams[stream].end = .failed
            return nil
        }
        bytesMoved += written
        return written
    }
}
