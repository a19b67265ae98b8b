import SSH

/// Moves data one way between two channels, for stdout and stderr separately, never writing
/// more than the receiving side's window allows, keeping what could not be written, and
/// sending EOF only after everything before it has been delivered.
///
/// Memory stays bounded whatever either peer does. libssh 0.10.6 grants a peer a fresh window
/// after every read however much it still holds unread, so reading a little at a time (what the
/// sink can take) would let a fast sender pile up data without end. So a read takes either what
/// the sink can take at once, or everything waiting, keeping what the sink does not take; and
/// nothing more is read while anything is kept. libssh then never holds more than one window,
/// and the pump never more than one window's worth. A peer that sends far beyond its window
/// (libssh 0.10.6 accepts such data) shows as more buffered than any window allows:
/// `sourceOverran` is set and nothing more moves.
struct DirectionPump {
    /// Largest read per step when the sink can take everything waiting; libssh's packet size.
    static let chunkSize = 32 * 1024
    /// More than this held by libssh for one channel can only come from a peer that ignored
    /// its window: libssh grants at most 1,280,000 bytes, and up to 640,000 more while it holds
    /// unread data, plus one packet in flight; the rest is margin.
    static let overrunLimit = 3 << 20

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
    /// True once the source held more than any window allows: its peer broke the protocol.
    private(set) var sourceOverran = false

    /// True when the source has sent EOF and all its data has been delivered.
    var isDrained: Bool {
        ChannelStream.allCases.allSatisfy { streams[$0].end == .endOfFile && streams[$0].unsent.isEmpty }
    }

    private var keepsData: Bool { ChannelStream.allCases.contains { !streams[$0].unsent.isEmpty } }

    /// Moves what can move now; returns true if anything did.
    mutating func pump(from source: some PumpableChannel, to sink: some PumpableChannel) -> Bool {
        guard !sourceOverran else { return false }
        if source.bufferedByteCount(.stdout) + source.bufferedByteCount(.stderr) > Self.overrunLimit {
            sourceOverran = true
            return false
        }
        var moved = false
        for stream in ChannelStream.allCases where !streams[stream].unsent.isEmpty {
            moved = deliverUnsent(of: stream, to: sink) || moved
        }
        if !keepsData {
            for stream in ChannelStream.allCases {
                moved = read(stream, from: source, to: sink) || moved
                if keepsData { break }
            }
        }
        if isDrained && !eofSent {
            eofSent = true
            if !sink.closeSent && !sink.receivedClose { sink.sendEOF() }
            moved = true
        }
        return moved
    }

    /// Sends on the bytes kept from an earlier read; true if any went.
    private mutating func deliverUnsent(of stream: ChannelStream, to sink: some PumpableChannel) -> Bool {
        let unsent = streams[stream].unsent
        guard let written = unsent.withUnsafeBytes({ deliver($0, of: stream, to: sink) }) else { return true }
        guard written > 0 else { return false }
        streams[stream].unsent.removeFirst(written)
        return true
    }

    /// Reads and delivers one stream until it is empty, ended, or the sink is full.
    private mutating func read(_ stream: ChannelStream, from source: some PumpableChannel, to sink: some PumpableChannel) -> Bool {
        var moved = false
        while streams[stream].end == .open {
            let waiting = source.bufferedByteCount(stream)
            let window = sink.sendWindow
            if waiting > 0 && window == 0 { return moved }
            // With nothing waiting, an empty read still tells whether the stream has ended.
            let size = waiting <= window ? min(waiting, Self.chunkSize) : waiting
            let step: Step
            if size <= Self.chunkSize {
                step = withUnsafeTemporaryAllocation(byteCount: size, alignment: 16) { buffer in
                    relayChunk(of: stream, from: source, through: buffer, to: sink)
                }
            } else {
                // The sink cannot take it all: read everything at once and keep the rest.
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
                defer { buffer.deallocate() }
                step = relayChunk(of: stream, from: source, through: buffer, to: sink)
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
