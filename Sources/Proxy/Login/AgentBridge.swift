import Foundation
import Logging
import SSH
import Synchronization

/// Lets libssh's agent client, which blocks and wants a socket, reach the client's forwarded
/// agent, which is an SSH channel on the client connection.
///
/// While `body` runs on the connection's thread (blocked inside the upstream login), a helper
/// thread owns the client session and its event and copies bytes between the agent channel and
/// one end of a socketpair; the connection thread does not touch the client session until the
/// helper has finished. That hand-over is what makes `ClientSide` safe to pass (`@unchecked
/// Sendable`): only one thread uses the client session at any time.
enum AgentBridge {
    /// Opens an agent channel to the client and runs `body` with a socket that reaches it.
    /// Returns nil if the client's agent could not be reached before `deadline`.
    static func withClientAgent<T>(
        client: SSHSession, event: SSHEvent, deadline: Date, logger: Logger, _ body: (Int32) -> T
    ) -> T? {
        guard let channel = openAgentChannel(client: client, event: event, deadline: deadline, logger: logger) else { return nil }
        defer { channel.close() }
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            logger.error("cannot create agent socketpair", metadata: ["error": "\(String(cString: strerror(errno)))"])
            return nil
        }
        let libsshEnd = ends[0]
        let bridgeEnd = ends[1]
        _ = fcntl(bridgeEnd, F_SETFL, fcntl(bridgeEnd, F_GETFL) | O_NONBLOCK)

        let side = ClientSide(channel: channel, event: event, socket: bridgeEnd, deadline: deadline)
        let finished = DispatchSemaphore(value: 0)
        let helper = Thread {
            side.copyUntilStopped()
            finished.signal()
        }
        helper.name = "switchboard-agent-bridge"
        helper.stackSize = 256 << 10
        helper.start()
        let result = body(libsshEnd)
        side.stop.store(true, ordering: .relaxed)
        finished.wait()
        close(bridgeEnd)
        return result
    }

    private static func openAgentChannel(client: SSHSession, event: SSHEvent, deadline: Date, logger: Logger) -> SSHChannel? {
        let channel: SSHChannel
        do {
            channel = try SSHChannel.make(on: client)
        } catch {
            logger.warning("cannot create agent channel", metadata: ["error": "\(error)"])
            return nil
        }
        while Date() < deadline {
            switch channel.openAuthAgent() {
            case .accepted:
                return channel
            case .refused(let why):
                logger.info("client refused the agent channel", metadata: ["error": "\(why)"])
                return nil
            case .pending:
                event.poll(timeoutMilliseconds: 100)
            }
        }
        return nil
    }

    /// The client connection's half of the bridge, used by the helper thread only.
    private final class ClientSide: @unchecked Sendable {
        let channel: SSHChannel
        let event: SSHEvent
        let socket: Int32
        let deadline: Date
        let stop = Atomic<Bool>(false)

        init(channel: SSHChannel, event: SSHEvent, socket: Int32, deadline: Date) {
            self.channel = channel
            self.event = event
            self.socket = socket
            self.deadline = deadline
        }

        /// Copies both ways until told to stop, the deadline passes, or either side ends.
        /// On the way out it shuts the socket, so a libssh read waiting on it returns at once.
        func copyUntilStopped() {
            defer { shutdown(socket, Int32(SHUT_RDWR)) }
            var toAgent: [UInt8] = []
            var toLibssh: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            while !stop.load(ordering: .relaxed) && Date() < deadline {
                event.poll(timeoutMilliseconds: 10)
                if toLibssh.isEmpty {
                    let result = buffer.withUnsafeMutableBytes { channel.read(into: $0, from: .stdout) }
                    switch result {
                    case .bytes(let count): toLibssh = Array(buffer[0..<count])
                    case .empty: break
                    case .endOfFile, .failed: return
                    }
                }
                if !toLibssh.isEmpty {
                    let written = toLibssh.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if written > 0 { toLibssh.removeFirst(written) } else if written < 0 && errno != EAGAIN { return }
                }
                if toAgent.isEmpty {
                    let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
                    if count == 0 { return }
                    if count > 0 { toAgent = Array(buffer[0..<count]) } else if errno != EAGAIN { return }
                }
                if !toAgent.isEmpty {
                    guard let written = try? toAgent.withUnsafeBytes({ try channel.write($0, to: .stdout) }) else { return }
                    toAgent.removeFirst(written)
                }
            }
        }
    }
}
