/// Why a request cannot be served, with the status that tells the client so.
struct HTTPRequestError: Error, Equatable, Sendable {
    let status: Int
    let message: String

    init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    /// The answer the client gets.
    var response: HTTPResponse { .text(status: status, message + "\n") }
}
