import Logging
import RouteStore

/// The session's trace in the audit trail: its start, its recording file, its end.
extension ClientConnection {
    /// Records a session's start: when the client is in, or, for a certificate login, just
    /// before its upstream login (the certificate names the audit id).
    func recordStart(route: Route, login: String, method: String) -> Int64? {
        do {
            let id = try services.audit.recordStart(SessionRecord(
                login: login, clientAddress: address.host, clientPort: address.port, upstreamHost: route.upstreamHost,
                upstreamPort: route.upstreamPort, upstreamUser: route.effectiveUpstreamUser, authMethod: method,
                nodeID: services.nodeID))
            logger[metadataKey: "audit.id"] = "\(id)"
            return id
        } catch {
            logger.error("cannot record session start", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Recording is on when the proxy has a record directory and the route does not turn it off
    /// (a route can also turn it on, which needs the directory too).
    func recordsSessions(of route: Route) -> Bool { settings[.recordDir] != nil && route.record != false }

    /// Where the session's terminals are recorded, if recording is on; it needs an audit id.
    func recordingPlan(for session: LoggedInSession) -> RecordingPlan? {
        let route = session.link.route
        guard let auditID = session.auditID, recordsSessions(of: route), let directory = settings[.recordDir] else {
            if route.record == true && settings[.recordDir] == nil {
                logger.warning("route asks for recording but the proxy has no --record-dir")
            }
            return nil
        }
        let limits = RecordingPlan.Limits(
            maximumFileBytes: settings[.recordMaxFileSize] << 20, maximumTotalBytes: settings[.recordMaxTotalSize] << 20)
        return RecordingPlan(
            directory: directory, auditID: auditID, recordsInput: settings[.recordInput], limits: limits,
            required: settings[.recordRequired],
            failed: { [logger] reason in
                logger.warning("recording failed", metadata: ["reason": "\(reason)"])
                ProxyMetrics.recordingFailed(reason: reason)
            }
        ) { [audit = services.audit, logger] path in
            do {
                try audit.recordRecording(id: auditID, path: path)
            } catch {
                logger.error("cannot note the recording in the audit", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Writes the session's end: bytes each way, the last exit status, and why it ended.
    func recordEnd(of session: LoggedInSession, reason: ConnectionEndReason) {
        guard let id = session.auditID else { return }
        services.liveSessions.unregister(auditID: id)
        let channels = session.channels
        recordEnd(auditID: id, reason: reason, bytes: channels.retiredBytes, exitStatus: channels.lastExit)
    }

    func recordEnd(
        auditID id: Int64, reason: ConnectionEndReason, bytes: (toUpstream: Int, toClient: Int) = (0, 0), exitStatus: String? = nil
    ) {
        do {
            try services.audit.recordEnd(id: id, SessionEnd(
                bytesToUpstream: bytes.toUpstream, bytesToClient: bytes.toClient, exitStatus: exitStatus, reason: reason.rawValue))
        } catch {
            logger.error("cannot record session end", metadata: ["error": "\(error)"])
        }
    }
}
