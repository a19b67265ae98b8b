import Logging
import RouteStore
import SSH

/// Where each request of either side goes while relaying: new channels become relays, channel
/// requests join their relay's queue, global requests are answered in order.
extension ClientConnection {
    func handleClientMessage(_ message: SSHMessage, session: LoggedInSession, upstreamReady: Bool) {
        if case .channelOpen = message.request, !session.channels.hasRoom {
            logger.info("channel refused", metadata: ["reason": "max-channels"])
            message.refuse()
            return
        }
        switch message.request {
        case .channelOpen(.session):
            do {
                if upstreamReady {
                    session.channels.add(SessionChannelRelay(
                        openRequest: message, upstream: try SSHChannel.make(on: session.upstream), recording: session.recording,
                        watch: session.watch, forwardsAgentUpstream: session.forwardsAgent, logger: logger))
                } else {
                    // The client's channel must be open for it to ask for agent forwarding,
                    // which the upstream login needs: accept now, open upstream later.
                    session.channels.add(SessionChannelRelay(
                        acceptedDownstream: try message.acceptChannelOpen(), recording: session.recording, watch: session.watch,
                        forwardsAgentUpstream: session.forwardsAgent, logger: logger))
                }
            } catch {
                logger.warning("cannot create upstream channel", metadata: ["error": "\(error)"])
                message.refuse()
            }
        case .channelOpen(.directTCPIP(let host, let port, let originHost, let originPort)):
            guard upstreamReady, session.allowsLocalForward else {
                logger.info("forwarding refused", metadata: ["reason": "\(upstreamReady ? "policy" : "upstream-not-ready")", "forward.kind": "local"])
                message.refuse()
                return
            }
            do {
                let channel = try SSHChannel.make(on: session.upstream)
                session.channels.add(DataChannelRelay(request: message, opened: channel, logger: logger) {
                    $0.openForward(host: host, port: port, originHost: originHost, originPort: originPort)
                })
            } catch {
                logger.warning("cannot create upstream channel", metadata: ["error": "\(error)"])
                message.refuse()
            }
        case .channelRequest(_, .pty) where !session.allowsPTY:
            logger.info("terminal refused", metadata: ["reason": session.access.allows(.pty) ? "certificate-without-permit-pty" : "access-channel"])
            if !session.access.allows(.pty) { ProxyMetrics.accessRefused(rule: "access-channel") }
            message.refuse()
        case .channelRequest(let id, let request) where session.refusal(of: request) != nil:
            let notice = session.refusal(of: request) ?? ""
            logger.info("request refused", metadata: ["reason": "access-channel", "request": "\(request.name)"])
            ProxyMetrics.accessRefused(rule: "access-channel")
            if let relay = session.channels.session(withClientChannel: id) {
                relay.refuse(message, telling: notice)
            } else {
                message.refuse()
            }
        case .channelRequest(let id, let request):
            guard let relay = session.channels.session(withClientChannel: id) else {
                answerRequestOnUnrelayedChannel(message, id, session: session)
                return
            }
            relay.enqueue(request, message: message)
        case .global(let kind):
            handleGlobalRequest(message, kind, session: session, upstreamReady: upstreamReady)
        default:
            // X11, Unix-socket forwarding and anything else unknown is refused.
            message.refuse()
        }
    }

    /// Requests the upstream makes of us: agent connections (when the client forwards its
    /// agent) and remote forwards (`ssh -R`) are relayed to the client; anything else is
    /// refused, as the client would.
    func handleUpstreamMessage(_ message: SSHMessage, session: LoggedInSession) {
        if case .channelRequest(let id, _) = message.request {
            answerRequestOnUnrelayedChannel(message, id, session: session)
            return
        }
        guard session.channels.hasRoom else {
            message.refuse()
            return
        }
        let open: (SSHChannel) -> RequestProgress
        switch message.request {
        case .channelOpen(.authAgent) where session.channels.clientForwardsAgent && session.forwardsAgent:
            open = { $0.openAuthAgent() }
        case .channelOpen(.forwardedTCPIP(let host, let port, let originHost, let originPort)) where session.allowsRemoteForward:
            open = { $0.openReverseForward(host: host, port: port, originHost: originHost, originPort: originPort) }
        default:
            message.refuse()
            return
        }
        do {
            session.channels.add(DataChannelRelay(request: message, opened: try SSHChannel.make(on: client), logger: logger, open: open))
        } catch {
            logger.warning("cannot open a channel to the client", metadata: ["error": "\(error)"])
            message.refuse()
        }
    }

    /// A channel request no session relay takes: refused while its channel is still relayed
    /// (a port forward), otherwise left unanswered. A channel no relay holds has finished: we
    /// sent its CLOSE, and libssh may already have freed it (it does once the peer's CLOSE has
    /// come too, possibly in the same read as this request), so answering, which reads the
    /// channel, could touch freed memory; a peer stops waiting for answers on a closed channel.
    private func answerRequestOnUnrelayedChannel(_ message: SSHMessage, _ id: SSHChannelID, session: LoggedInSession) {
        if session.channels.isRelaying(id) { message.refuse() } else { message.dropWithoutReply() }
    }

    /// `ssh -R`: the client's tcpip-forward and cancel-tcpip-forward requests go upstream, and
    /// their answers come back in the order asked (global replies carry no id).
    private func handleGlobalRequest(_ message: SSHMessage, _ kind: SSHRequest.GlobalRequestKind, session: LoggedInSession, upstreamReady: Bool) {
        let upstream = session.upstream
        switch kind {
        case .tcpipForward(let address, let port):
            guard upstreamReady, session.allowsRemoteForward else {
                logger.info("forwarding refused", metadata: ["reason": "\(upstreamReady ? "policy" : "upstream-not-ready")", "forward.kind": "remote"])
                message.refuse()
                return
            }
            if let bound = upstream.listenForward(address: address, port: port) {
                logger.info("remote forward opened upstream", metadata: ["forward.port": "\(bound)"])
                message.acceptForward(boundPort: bound)
            } else {
                logger.info("upstream refused remote forward", metadata: ["error": "\(upstream.lastError)"])
                message.refuse()
            }
        case .cancelTCPIPForward(let address, let port):
            if upstreamReady && upstream.cancelForward(address: address, port: port) { message.accept() } else { message.refuse() }
        case .keepalive, .other:
            // Refusing answers keepalive@openssh.com as OpenSSH itself does.
            message.refuse()
        }
    }
}
