import Foundation
import SSH
import XCTest

@testable import Proxy

/// The session channel relay with in-memory channels: opening, requests in order with the
/// upstream's answers, exit status just before the close, and every way a relay is ended.
final class SessionChannelRelayTests: XCTestCase {
    private typealias Relay = SessionChannelRelay<FakeChannel, FakeRequest>

    private let client = FakeChannel()
    private let upstream = FakeChannel()

    /// A relay whose two channels are open.
    private func openRelay() -> Relay {
        let relay = Relay(openRequest: FakeRequest(opens: client), upstream: upstream, recording: nil, logger: .silent)
        XCTAssertTrue(relay.step())
        guard case .open = relay.state else {
            XCTFail("not open: \(relay.state)")
            return relay
        }
        return relay
    }

    private func stepUntilQuiet(_ relay: Relay) {
        for _ in 0..<20 where relay.step() {}
    }

    func testTheClientsOpenIsAnsweredWhenTheUpstreamHasOpenedItsTwin() {
        let request = FakeRequest(opens: client)
        upstream.openAnswers = [.pending, .accepted]
        let relay = Relay(openRequest: request, upstream: upstream, recording: nil, logger: .silent)
        XCTAssertFalse(relay.step())
        XCTAssertNil(request.answer, "no answer before the upstream's")
        XCTAssertTrue(relay.step())
        XCTAssertEqual(request.answer, .accepted)
        XCTAssertEqual(relay.downstreamID, client.id)

        let refused = FakeRequest()
        let other = FakeChannel()
        other.openAnswers = [.refused("administratively prohibited")]
        let refusedRelay = Relay(openRequest: refused, upstream: other, recording: nil, logger: .silent)
        XCTAssertTrue(refusedRelay.step())
        XCTAssertEqual(refused.answer, .refused)
        XCTAssertTrue(refusedRelay.isFinished)
    }

    func testRequestsGoUpstreamOneAtATimeInOrderAndCarryTheUpstreamsAnswer() {
        let relay = openRelay()
        let environment = FakeRequest()
        let exec = FakeRequest()
        let subsystem = FakeRequest()
        upstream.answers = [.pending, .accepted, .accepted, .refused("no such subsystem")]
        relay.enqueue(.environment(name: "LANG", value: "C"), message: environment)
        relay.enqueue(.exec(command: "true"), message: exec)
        relay.enqueue(.subsystem(name: "nope"), message: subsystem)
        _ = relay.step()
        XCTAssertNil(environment.answer, "the upstream has not answered yet")
        XCTAssertNil(exec.answer, "a request waits for the one before it")
        stepUntilQuiet(relay)
        XCTAssertEqual([environment.answer, exec.answer, subsystem.answer], [.accepted, .accepted, .refused])
        XCTAssertEqual(upstream.events, ["env", "exec", "subsystem"], "asked in the order the client asked")
    }

    func testOutputThenExitStatusThenCloseWhenTheUpstreamProgramEnds() {
        let relay = openRelay()
        upstream.incoming[.stdout] = Array("out".utf8)
        upstream.incoming[.stderr] = Array("err".utf8)
        upstream.receivedEOF = true
        upstream.exitStatus = 42
        upstream.receivedClose = true
        stepUntilQuiet(relay)
        XCTAssertEqual(client.text(.stdout), "out")
        XCTAssertEqual(client.text(.stderr), "err")
        XCTAssertEqual(client.events, ["data", "stderr", "eof", "exit-status 42", "close"])
        XCTAssertTrue(upstream.closeSent)
        XCTAssertTrue(relay.isFinished)
        XCTAssertEqual(relay.exitDescription, "42")
        XCTAssertEqual(relay.bytesToClient, 6)
    }

    /// sshd reports a program's exit when it exits, even while a background job keeps the
    /// channel open; the status follows the output sent before it, never overtakes it.
    func testTheExitStatusIsPassedOnWhenItComesNotOnlyAtTheClose() {
        let relay = openRelay()
        upstream.incoming[.stdout] = Array("before".utf8)
        upstream.exitStatus = 7
        client.sendWindow = 3
        stepUntilQuiet(relay)
        XCTAssertEqual(client.events, ["data"], "the output before the status is not delivered yet")
        client.sendWindow = .max
        stepUntilQuiet(relay)
        XCTAssertEqual(client.events, ["data", "data", "exit-status 7"])
        XCTAssertFalse(relay.isFinished, "the channel stays open while the upstream's does")
        upstream.incoming[.stdout] = Array("after".utf8)
        upstream.receivedEOF = true
        upstream.receivedClose = true
        stepUntilQuiet(relay)
        XCTAssertEqual(client.events, ["data", "data", "exit-status 7", "data", "eof", "close"], "the status is sent once")
        XCTAssertEqual(client.text(.stdout), "beforeafter")
    }

    func testAKilledProgramsSignalReachesTheClient() {
        let relay = openRelay()
        upstream.receivedEOF = true
        upstream.exitSignal = ExitSignal(signal: "TERM")
        upstream.receivedClose = true
        stepUntilQuiet(relay)
        XCTAssertEqual(client.events, ["eof", "exit-signal TERM", "close"])
        XCTAssertEqual(relay.exitDescription, "signal TERM")
    }

    func testAClientThatClosesAfterTheOutputStillWaitsForTheExitStatus() {
        let relay = openRelay()
        upstream.receivedEOF = true
        client.receivedClose = true
        stepUntilQuiet(relay)
        XCTAssertTrue(upstream.eofSent)
        XCTAssertTrue(relay.hasDeadline, "waits a bounded time for the status")
        XCTAssertFalse(relay.isFinished)
        upstream.exitStatus = 0
        upstream.receivedClose = true
        XCTAssertTrue(relay.step())
        XCTAssertEqual(client.events.suffix(2), ["exit-status 0", "close"])
        XCTAssertTrue(relay.isFinished)
    }

    func testClientInputAndSignalsGoUpstream() {
        let relay = openRelay()
        client.incoming[.stdout] = Array("typed".utf8)
        client.signals = ["INT"]
        stepUntilQuiet(relay)
        XCTAssertEqual(upstream.text(.stdout), "typed")
        XCTAssertEqual(upstream.events, ["signal INT", "data"])
        XCTAssertEqual(relay.bytesToUpstream, 5)
    }

    func testAnAbortAnswersWaitingRequestsAndEndsLikeAFailedProgram() {
        let relay = openRelay()
        let shell = FakeRequest()
        upstream.answers = [.pending]
        relay.enqueue(.shell, message: shell)
        _ = relay.step()
        relay.abort(notice: "the proxy is shutting down; please reconnect")
        XCTAssertEqual(shell.answer, .accepted, "the client reads the notice instead of stopping at a refusal")
        XCTAssertEqual(client.text(.stderr), "\r\nswitchboard: the proxy is shutting down; please reconnect\r\n")
        XCTAssertEqual(client.events, ["stderr", "eof", "exit-status 255", "close"])
        XCTAssertTrue(upstream.closeSent)
        XCTAssertTrue(relay.isFinished)
    }

    func testAClientThatIsGoneHasItsWaitingRequestsDropped() {
        let relay = openRelay()
        let exec = FakeRequest()
        upstream.answers = [.pending]
        relay.enqueue(.exec(command: "sleep 9"), message: exec)
        _ = relay.step()
        relay.clientLost()
        XCTAssertEqual(exec.answer, .dropped)
        XCTAssertTrue(upstream.closeSent)
        XCTAssertFalse(client.closeSent, "nothing is sent to a client that is gone")
        XCTAssertTrue(relay.isFinished)
    }

    func testARouteThatForbidsAgentForwardingKeepsTheAgentForTheLoginOnly() {
        let relay = Relay(acceptedDownstream: client, recording: nil, forwardsAgentUpstream: false, logger: .silent)
        client.agentForwardingRequested = true
        relay.enqueue(.shell, message: FakeRequest())
        XCTAssertTrue(relay.clientForwardsAgent, "the agent login can still use the client's agent")
        relay.upstreamReady { () throws(SSHError) in self.upstream }
        stepUntilQuiet(relay)
        XCTAssertEqual(upstream.events, ["shell"], "no auth-agent-req went upstream")
    }

    func testAnAgentLoginRelayQueuesUntilTheUpstreamIsReadyThenAsksForTheAgentFirst() {
        let relay = Relay(acceptedDownstream: client, recording: nil, logger: .silent)
        let shell = FakeRequest()
        client.agentForwardingRequested = true
        relay.enqueue(.shell, message: shell)
        XCTAssertTrue(relay.clientForwardsAgent)
        XCTAssertFalse(relay.startsWithoutAgent)
        XCTAssertFalse(relay.step(), "nothing moves before the upstream login")
        relay.upstreamReady { () throws(SSHError) in self.upstream }
        stepUntilQuiet(relay)
        XCTAssertEqual(upstream.events, ["auth-agent-req", "shell"])
        XCTAssertEqual(shell.answer, .accepted)

        let withoutAgent = Relay(acceptedDownstream: FakeChannel(), recording: nil, logger: .silent)
        withoutAgent.enqueue(.exec(command: "git pull"), message: FakeRequest())
        XCTAssertTrue(withoutAgent.startsWithoutAgent, "a program starts but no agent was forwarded")
    }

    /// A relay feeding `watch`, its two channels open.
    private func openRelay(watchedBy watch: SessionWatch) -> Relay {
        let relay = Relay(openRequest: FakeRequest(opens: client), upstream: upstream, recording: nil, watch: watch, logger: .silent)
        XCTAssertTrue(relay.step())
        return relay
    }

    func testATerminalTheUpstreamGrantedIsWatchedWithItsOutputAndResizes() throws {
        let watch = SessionWatch()
        let watcher = try watch.attach()
        let relay = openRelay(watchedBy: watch)
        relay.enqueue(.pty(terminal: "xterm-256color", columns: 100, rows: 30), message: FakeRequest())
        relay.enqueue(.shell, message: FakeRequest())
        stepUntilQuiet(relay)
        upstream.incoming[.stdout] = Array("$ ".utf8)
        client.incoming[.stdout] = Array("secret".utf8)
        stepUntilQuiet(relay)
        relay.enqueue(.windowChange(columns: 90, rows: 20), message: FakeRequest())
        stepUntilQuiet(relay)
        let events = try watcher.take().events.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [Any]) }
        XCTAssertEqual(events.map { "\($0[1]) \($0[2])" }, ["r 100x30", "o $ ", "r 90x20"], "output, never input")
        XCTAssertEqual(client.text(.stdout), "$ ", "the client's output is as before")
    }

    func testAChannelWithoutATerminalIsNotWatched() throws {
        let watch = SessionWatch()
        let watcher = try watch.attach()
        let relay = openRelay(watchedBy: watch)
        upstream.answers = [.accepted, .refused("no pty for you"), .accepted]
        relay.enqueue(.environment(name: "LANG", value: "C"), message: FakeRequest())
        relay.enqueue(.pty(terminal: "xterm", columns: 80, rows: 24), message: FakeRequest())
        relay.enqueue(.exec(command: "cat file"), message: FakeRequest())
        stepUntilQuiet(relay)
        upstream.incoming[.stdout] = Array("contents".utf8)
        stepUntilQuiet(relay)
        relay.enqueue(.windowChange(columns: 90, rows: 20), message: FakeRequest())
        stepUntilQuiet(relay)
        XCTAssertEqual(client.text(.stdout), "contents")
        XCTAssertEqual(watcher.take().events, [], "a refused terminal is no terminal")
    }
}

/// A channel's request queue has a fixed size: a flood is refused, not queued without end.
final class ChannelRequestQueueTests: XCTestCase {
    func testRequestsPastTheCapacityAreRefusedAtOnce() {
        var queue = ChannelRequestQueue<FakeRequest>()
        let requests = (0..<(ChannelRequestQueue<FakeRequest>.capacity + 10)).map { _ in FakeRequest() }
        for request in requests { queue.append(.environment(name: "SB_X", value: "1"), message: request) }
        XCTAssertEqual(requests.filter { $0.answer == .refused }.count, 10)
        XCTAssertTrue(requests.prefix(ChannelRequestQueue<FakeRequest>.capacity).allSatisfy { $0.answer == nil }, "the first ones wait their turn")
    }
}
