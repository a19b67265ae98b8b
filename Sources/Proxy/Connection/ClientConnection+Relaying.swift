import Foundation
import Logging
import SSH

/// The relaying phases: after every poll, each channel moves what it can, new requests from
/// either side are dispatched, and the connection checks whether it must end.
extension ClientConnection {
    /// One pass of the relay. `awaitingAgent` is set while the upstream login still waits for
    /// the client's forwarded agent (the upstream is not in the event yet).
    func relay(_ session: LoggedInSession, awaitingAgent verdict: HostKeyVerifier.Verdict?) -> State {
        let upstreamReady = verdict == nil
        if !session.movedLastPass {
            event.poll(timeoutMilliseconds: upstreamReady ? pollTimeoutMilliseconds(session) : 250)
        }
        if let end = reasonToEndNow(session) { return .closing(end, session) }
        // libssh also reads and flushes sockets inside our own calls (writes, requests,
        // message checks), so a pass counts as busy if traffic went in or out of either
        // socket; sleep only after a quiet one.
        let upstream = session.upstream
        let trafficBefore = socketTraffic(upstream)
        var moved = session.channels.step()
        if session.channels.windowOverrun {
            logger.warning("a peer sent more than its channel window allowed", metadata: ["reason": "window-overrun"])
            return .closing(.ended(.windowOverrun, notice: "a channel received more data than its window allowed"), session)
        }
        while let message = client.nextMessage() {
            handleClientMessage(message, session: session, upstreamReady: upstreamReady)
            moved = true
        }
        if upstreamReady {
            while let message = upstream.nextMessage() {
                handleUpstreamMessage(message, session: session)
                moved = true
            }
        }
        tellScheduleEnd(session)
        session.channels.releaseFinished()
        if !moved && socketTraffic(upstream) != trafficBefore { moved = true }
        session.movedLastPass = moved
        session.noteTraffic()
        if !client.isAlive {
            logger.info("client disconnected", metadata: ["reason": "client-closed"])
            return .closing(.clientClosed, session)
        }
        if let verdict {
            return continueAgentLogin(session, verdict: verdict)
        }
        if !upstream.isAlive {
            if let reason = upstream.peerDisconnectReason {
                // The upstream hung up on purpose (e.g. "Protocol error: you already have a
                // pty."): the client hears its words, as it would directly.
                logger.warning("upstream disconnected", metadata: ["reason": "upstream-closed", "upstream.message": "\(reason)"])
                return .closing(.upstreamDisconnected(saying: reason), session)
            }
            logger.warning("upstream connection lost", metadata: ["reason": "upstream-closed"])
            return .closing(.upstreamLost, session)
        }
        return .relaying(session)
    }

    /// Bytes libssh has read and written on both sockets so far, in one sum: it changes
    /// whenever any traffic went in or out.
    private func socketTraffic(_ upstream: SSHSession) -> UInt64 {
        client.inputConsumed &+ client.outputSent &+ upstream.inputConsumed &+ upstream.outputSent
    }

    /// Logs in upstream through the client's forwarded agent once a session channel asked for
    /// agent forwarding; fails if the client starts a program without one, or runs out of time.
    private func continueAgentLogin(_ session: LoggedInSession, verdict: HostKeyVerifier.Verdict) -> State {
        let needAgent = "this route logs in upstream with your own key: connect with agent forwarding (ssh -A)"
        guard session.channels.clientForwardsAgent else {
            if session.channels.startsWithoutAgent || Date() >= loginDeadline {
                logger.info("no forwarded agent for an agent login", metadata: ["reason": "no-agent"])
                return .closing(.ended(.agentLoginFailed, notice: needAgent), session)
            }
            return .awaitingAgent(session, verdict)
        }
        let link = session.link
        let result = AgentBridge.withClientAgent(client: client, event: event, deadline: loginDeadline, logger: logger) { socket in
            link.session.authenticateWithAgent(socket: socket)
        }
        guard let result else {
            return .closing(.ended(.agentLoginFailed, notice: "your forwarded agent could not be reached"), session)
        }
        guard authenticator.finishAgentLogin(link, verdict: verdict, result: result) else {
            return .closing(.ended(.agentLoginFailed, notice: "the upstream host accepted none of the keys in your agent"), session)
        }
        do {
            try attachUpstream(of: session)
        } catch {
            logger.error("connection failed", metadata: ["error": "\(error)"])
            return .closing(.internalError, session)
        }
        session.channels.upstreamReady(on: session.upstream)
        session.movedLastPass = true
        return .relaying(session)
    }

    /// How long the relay may sleep in poll: until the next deadline (the idle timeout, the
    /// schedule's notice or end), forever without one (traffic wakes it at once, so an idle
    /// session never wakes up), briefly while a relay waits on a deadline of its own.
    private func pollTimeoutMilliseconds(_ session: LoggedInSession) -> Int32 {
        let deadlines = [idleDeadline(session), scheduleWakeUp(session)].compactMap { $0 }
        guard let next = deadlines.min() else { return session.channels.hasDeadline ? 250 : -1 }
        // Rounded up, so the relay wakes at the deadline, not just before it.
        let milliseconds = max(0, ((next - .now) / .milliseconds(1)).rounded(.up))
        let timeout = Int32(clamping: Int(min(milliseconds, Double(Int32.max))))
        return session.channels.hasDeadline ? min(timeout, 250) : timeout
    }

    /// When the session counts as idle, if an idle timeout is set.
    private func idleDeadline(_ session: LoggedInSession) -> ContinuousClock.Instant? {
        idleTimeoutSeconds > 0 ? session.lastTraffic + .seconds(idleTimeoutSeconds) : nil
    }

    /// When the schedule's notice is due (`schedule_notice` before the end).
    private func scheduleNoticeTime(_ end: ScheduleEnd) -> ContinuousClock.Instant {
        end.instant - .seconds(settings[.scheduleNotice])
    }

    /// When the relay must next wake up for the schedule: at its notice, then at its end.
    private func scheduleWakeUp(_ session: LoggedInSession) -> ContinuousClock.Instant? {
        guard let end = session.scheduleEnd else { return nil }
        let notice = scheduleNoticeTime(end)
        return ContinuousClock.now < notice ? notice : end.instant
    }

    /// Once the schedule's notice is due, tells every open terminal when the session ends (a
    /// terminal opened later is told as it opens).
    private func tellScheduleEnd(_ session: LoggedInSession) {
        guard let end = session.scheduleEnd else { return }
        let now = ContinuousClock.now
        guard now >= scheduleNoticeTime(end), now < end.instant else { return }
        session.channels.tellOnce { end.notice(at: now) }
    }

    /// Why the whole connection must end now, if it must: the proxy is shutting down, an
    /// operator ended the session, the login's schedule ended it, or it has been idle for
    /// longer than allowed.
    private func reasonToEndNow(_ session: LoggedInSession) -> ConnectionEnd? {
        if services.shutdown.isRequested {
            logger.info("closing session: the proxy is shutting down", metadata: ["reason": "shutdown"])
            return .shutdown
        }
        if session.endRequest.isRequested {
            logger.notice("closing session: an operator ended it", metadata: ["reason": "killed"])
            return .killed
        }
        if let end = session.scheduleEnd, ContinuousClock.now >= end.instant {
            logger.info("closing session: the login's schedule ended", metadata: ["reason": "access-schedule"])
            return .ended(.accessSchedule, notice: "the login's schedule ended this session")
        }
        if let idleDeadline = idleDeadline(session), ContinuousClock.now >= idleDeadline {
            logger.info("closing idle session", metadata: ["reason": "idle-timeout"])
            return .idle(afterSeconds: idleTimeoutSeconds)
        }
        return nil
    }
}
