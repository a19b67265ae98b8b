extension LoginAuthenticator {
    /// What the door does with a login attempt's outcome. Kept apart from the connection so the
    /// rules (who is delayed and counted toward a ban, what a client is told) are unit-tested.
    enum Response {
        /// Let the client in; `pendingAgent` is set when the upstream login waits for the
        /// client's forwarded agent.
        case accept(UpstreamLink<Session>, pendingAgent: HostKeyVerifier.Verdict?)
        /// Refuse like any wrong credential: no sooner than the failure delay, counted toward the
        /// source's ban, and the same to the client whatever `reason` is.
        case refuse(LoginRejection)
        /// Refuse like a wrong credential, then end the connection with `message` as its reason,
        /// as the upstream did (OpenSSH: "Too many authentication failures").
        case refuseAndEnd(LoginRejection, message: String)
        /// End the connection and show the client `notice` first. The failure is the proxy's or
        /// the upstream's, not the client's: no delay, no ban.
        case end(ConnectionEndReason, notice: String)
    }
}

extension LoginAuthenticator.Outcome {
    var response: LoginAuthenticator.Response {
        switch self {
        case .accepted(let link):
            .accept(link, pendingAgent: nil)
        case .acceptedPendingAgent(let link, let verdict):
            .accept(link, pendingAgent: verdict)
        case .rejected(let reason):
            .refuse(reason)
        case .upstreamHungUp(let message):
            .refuseAndEnd(.upstreamDenied, message: message)
        case .upstreamUnavailable(let route, let failure):
            // This tells the client the login has a route; it is only said when the upstream
            // cannot be used at all, which the user needs to know.
            .end(.upstreamUnavailable, notice: "switchboard: \(failure.clientMessage) (\(route.login)); please try again later.")
        case .storeUnavailable:
            .end(.storeUnavailable, notice: serviceUnavailableNotice)
        }
    }

    /// Whether the attempt got an answer from an upstream (false for a login without a route,
    /// which gets the decoy's look instead).
    var reachedUpstream: Bool {
        switch self {
        case .rejected(.noRoute), .rejected(.routeDisabled), .rejected(.caseMismatch), .rejected(.keyNotListed),
             .rejected(.certificateRefused), .rejected(.methodNotAllowed), .rejected(.accessSource), .storeUnavailable: false
        default: true
        }
    }

    /// True if the client is in (now, or once its agent logs in upstream).
    var isAccepted: Bool {
        switch self {
        case .accepted, .acceptedPendingAgent: true
        default: false
        }
    }

    /// The `result` label of the authentications metric.
    var metricResult: String {
        switch self {
        case .accepted, .acceptedPendingAgent: "accepted"
        case .rejected, .upstreamHungUp: "rejected"
        case .upstreamUnavailable: "upstream-unavailable"
        case .storeUnavailable: "store-unavailable"
        }
    }
}

/// What a client is told when the routing table cannot be read.
let serviceUnavailableNotice = "switchboard: the service is temporarily unavailable; please try again later."
