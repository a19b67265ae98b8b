import SSH

/// What a `DirectionPump` needs of the channels it moves data between. `SSHChannel` is the
/// real one; unit tests drive the pump with in-memory channels.
protocol PumpableChannel: AnyObject {
    /// How many bytes the peer is willing to receive right now.
    var sendWindow: Int { get }
    /// The peer sent CHANNEL_CLOSE.
    var receivedClose: Bool { get }
    /// This side has sent CHANNEL_CLOSE.
    var closeSent: Bool { get }
    /// Bytes of `stream` that a read would return now.
    func bufferedByteCount(_ stream: ChannelStream) -> Int
    /// Reads what is buffered of `stream`, without waiting.
    func read(into buffer: UnsafeMutableRawBufferPointer, from stream: ChannelStream) -> ReadResult
    /// Writes what the window takes now; returns how many bytes were taken.
    func write(_ bytes: UnsafeRawBufferPointer, to stream: ChannelStream) throws(SSHError) -> Int
    /// This side will write no more data.
    func sendEOF()
}

extension SSHChannel: PumpableChannel {}
