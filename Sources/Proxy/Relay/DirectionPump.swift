import SSH

/// Moves data one way between two channels, for stdout and stderr separately, never writing
/// more than the receiving side's window allows, keeping what could not be written, and
/// sending EOF only after everything before it has been delivered.
///
/// Memory stays bounded whatever either peer does. libssh 0.10.6 tops a peer's window up to
/// 1,280,000 bytes after a read whenever it fell below half of that, however much it still
/// holds unread; reading a little at a time (what the sink can take) while much is held would
/// let a fast sender pile up data without end. So a read takes what the sink can take only
/// while libssh holds at most half a window (`partialReadLimit`: what it holds plus a fresh
/// window then stays under two windows); beyond that it takes everything waiting and keeps what
/// the sink does not take, and nothing more is read while anything is kept. A peer that sends
/// beyond its window (libssh 0.10.6 accepts such data; the channel follows the window libssh
/// granted) sets `sourceOverran`, and nothing more moves.
struct DirectionPump {
    /// Largest read per step when the sink can take everything waiting; libssh's packet size.
    static let chunkSize = 32 * 1024
    /// Up to this much held by libssh, a read may take less than everything (libssh's
    /// WINDOWLIMIT: half its 1,280,000-byte window).
    static let partialReadLimit = 640_000

    /// How a stream of the source ended: a clean EOF is forwarded, a failure is not.
    private enum StreamEnd {
        case open
        case endOfFile
        case failed
    }

    /// One stream's progress: bytes read but not yet taken by the sink (from `sentOffset` on:
    /// partial deliveries advance the offset instead of moving the rest), and how it ended.
    private struct StreamProgress {
        var unsent: [UInt8] = []
        var sentOffset = 0
        var end = StreamEnd.open

        var hasUnsent: Bool { sentOffset < unsent.count }

        mutating func keep(_ bytes: [UInt8], from offset: Int) {
            unsent = bytes
            sentOffset = offset
        }

        mutating func delivered(_ count: Int) {
            sentOffset += count
            if sentOffset >= unsent.count {
                unsent.removeAll()
                sentOffset = 0
            }
        }
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
        ChannelStream.allCases.allSatisfy { streams[$0].end == .endOfFile && !streams[$0].hasUnsent }
    }

    /// True while bytes read from the source wait for the sink.
    var keepsData: Bool { ChannelStream.allCases.contains { streams[$0].hasUnsent } }

    /// Moves what can move now; returns true if anything did.
    mutating func pump(from source: some PumpableChannel, to sink: some PumpableChannel) -> Bool {
        guard !sourceOverran else { return false }
        if source.peerIgnoredWindow {
            sourceOverran = true
            return false
        }
        // A peer that grants a huge window but stops reading its socket would otherwise have
        // every byte queued in libssh's output buffer: write more only once that has drained
        // (the connection's poll wakes up when the socket is writable again).
        guard !sink.outputBacklogged else { return false }
        var moved = false
        for stream in ChannelStream.allCases where streams[stream].hasUnsent {
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
        let offset = streams[stream].sentOffset
        guard let written = unsent.withUnsafeBytes({ deliver(UnsafeRawBufferPointer(rebasing: $0[offset...]), of: stream, to: sink) })
        else { return true }
        guard written > 0 else { return false }
        streams[stream].delivered(written)
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
            let size = waiting <= window || waiting <= Self.partialReadLimit ? min(waiting, window, Self.chunkSize) : waiting
            let step: Step
            if size <= Self.chunkSize {
                step = withUnsafeTemporaryAllocation(byteCount: size, alignment: 16) { buffer in
                    relayChunk(of: stream, from: source, through: buffer, to: sink)
                }
            } else {
                step = relayEverything(size, of: stream, from: source, to: sink)
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
        let result = source.read(into: buffer, from: stream)
        guard case .bytes(let count) = result else { return noBytes(result, of: stream) }
        let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
        guard let written = deliver(chunk, of: stream, to: sink) else { return .ended }
        guard written < count else { return .moved }
        streams[stream].keep(Array(chunk[written...]), from: 0)
        return .stalled
    }

    /// What a read that returned no bytes means for the stream.
    private mutating func noBytes(_ result: ReadResult, of stream: ChannelStream) -> Step {
        switch result {
        case .bytes, .empty:
            return .idle
        case .endOfFile:
            streams[stream].end = .endOfFile
            return .ended
        case .failed:
            streams[stream].end = .failed
            return .ended
        }
    }

    /// The sink cannot take all `size` bytes waiting: reads them all at once, straight into the
    /// buffer that keeps them, and sends on what the sink takes.
    private mutating func relayEverything(
        _ size: Int, of stream: ChannelStream, from source: some PumpableChannel, to sink: some PumpableChannel
    ) -> Step {
        var result = ReadResult.empty
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            result = source.read(into: UnsafeMutableRawBufferPointer(buffer), from: stream)
            if case .bytes(let count) = result { initialized = count } else { initialized = 0 }
        }
        guard case .bytes = result else { return noBytes(result, of: stream) }
        guard let written = bytes.withUnsafeBytes({ deliver($0, of: stream, to: sink) }) else { return .ended }
        guard written < bytes.count else { return .moved }
        streams[stream].keep(bytes, from: written)
        return .stalled
    }

    /// Writes what the sink takes now; nil if the sink is gone (then nothing more is sent).
    private mutating func deliver(_ bytes: UnsafeRawBufferPointer, of stream: ChannelStream, to sink: some PumpableChannel) -> Int? {
        let written: Int
        do {
            written = try sink.write(bytes, to: stream)
            if written > 0 { observer?(UnsafeRawBufferPointer(rebasing: bytes[0..<written])) }
        } catch {
            streams[stream].keep([], from: 0)
            streams[stream].end = .failed
            return nil
        }
        bytesMoved += written
        return written
    }
}
