/// What a handler answers: a complete response, or a stream whose body is written as it comes
/// (server-sent events of a live terminal).
public enum HTTPReply: Sendable {
    /// Written with `Content-Length` within the server's response deadline.
    case response(HTTPResponse)
    /// `head` is written without `Content-Length` (the body ends when the connection closes),
    /// then `body` runs on the request's own thread for as long as it likes; the connection
    /// closes when it returns. Its body bytes are ignored; a HEAD request gets only the head.
    case stream(head: HTTPResponse, body: @Sendable (HTTPStream) -> Void)
}
