import SSH

/// Moves data one way between two channels, for stdout and stderr separately, never reading
/// more than the receiving side's window allows, keeping what could not be written, and
/// sending EOF only after everything before it has been delivered.
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
    var observer: ((ArraySlice<UInt8>) -> Void)?
    private var eofSent = false
    private var scratch = [UInt8](repeating: 0, count: chunkSize)
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
        while true {
            if !pending[stream].isEmpty {
                let written: Int
                do {
                    written = try pending[stream].withUnsafeBytes { try sink.write($0, stderr: isStderr) }
                } catch {
                    // The sink is gone; nothing sent to it can arrive any more.
                    pending[stream].removeAll()
                    ends[stream] = .failed
                    return true
                }
                guard written > 0 else { return moved }
                observer?(pending[stream][0..<written])
                bytesMoved += written
                pending[stream].removeFirst(written)
                moved = true
                if !pending[stream].isEmpty { return moved }
                continue
            }
            guard ends[stream] == .open else { return moved }
            let window = sink.sendWindow
            guard window > 0 else { return moved }
            let limit = min(window, Self.chunkSize)
            let result = scratch.withUnsafeMutableBytes { buffer in
                source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<limit]), stderr: isStderr)
            }
            switch result {
            case .bytes(let count):
                pending[stream] = Array(scratch[0..<count])
            case .empty:
                return moved
            case .endOfFile:
                ends[stream] = .endOfFile
                return true
            case .failed:
                ends[stream] = .failed
                return true
            }
        }
    }
}
