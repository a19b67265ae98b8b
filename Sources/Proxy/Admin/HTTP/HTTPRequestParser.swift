/// Gathers one request's bytes as they arrive: the head up to its limit, then exactly
/// `Content-Length` body bytes (anything after them is ignored: one request per connection).
struct HTTPRequestParser {
    /// Where the request stands after the bytes given so far.
    enum Progress: Equatable {
        case needsMoreBytes
        case complete(HTTPRequestHead, body: [UInt8])
        case refused(HTTPRequestError)
    }

    private enum State {
        case readingHead(received: [UInt8])
        case readingBody(HTTPRequestHead, body: [UInt8])
        case finished(Progress)
    }

    private static let endOfHead: [UInt8] = Array("\r\n\r\n".utf8)

    let maximumHeadBytes: Int
    let maximumBodyBytes: Int
    private var state = State.readingHead(received: [])

    init(maximumHeadBytes: Int = 16 << 10, maximumBodyBytes: Int = 1 << 20) {
        self.maximumHeadBytes = maximumHeadBytes
        self.maximumBodyBytes = maximumBodyBytes
    }

    /// Takes the next bytes from the client.
    mutating func append(_ bytes: ArraySlice<UInt8>) -> Progress {
        switch state {
        case .finished(let progress):
            return progress
        case .readingBody(let head, var body):
            state = .readingHead(received: [])  // lets `body` grow in place
            body += bytes.prefix(head.contentLength - body.count)
            return settle(body.count == head.contentLength ? .finished(.complete(head, body: body)) : .readingBody(head, body: body))
        case .readingHead(var received):
            state = .readingHead(received: [])  // lets `received` grow in place
            let searchFrom = max(0, received.count - 3)
            received += bytes
            guard let end = Self.firstIndex(of: Self.endOfHead, in: received, from: searchFrom) else {
                return settle(received.count > maximumHeadBytes ? .finished(.refused(headTooLarge)) : .readingHead(received: received))
            }
            guard end + Self.endOfHead.count <= maximumHeadBytes else { return settle(.finished(.refused(headTooLarge))) }
            let head: HTTPRequestHead
            do {
                head = try HTTPRequestHead(parsing: received[..<end], maximumBodyBytes: maximumBodyBytes)
            } catch {
                return settle(.finished(.refused(error)))
            }
            state = .readingBody(head, body: [])
            return append(received[(end + Self.endOfHead.count)...])
        }
    }

    /// The head, once it is complete and its body is still arriving.
    var headAwaitingBody: HTTPRequestHead? {
        if case .readingBody(let head, _) = state { return head }
        return nil
    }

    private var headTooLarge: HTTPRequestError {
        HTTPRequestError(431, "the request line and headers may have at most \(maximumHeadBytes) bytes")
    }

    private mutating func settle(_ next: State) -> Progress {
        state = next
        if case .finished(let progress) = next { return progress }
        return .needsMoreBytes
    }

    private static func firstIndex(of pattern: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= pattern.count, start <= bytes.count - pattern.count else { return nil }
        for index in start...(bytes.count - pattern.count) where bytes[index] == pattern[0] {
            if bytes[index..<(index + pattern.count)].elementsEqual(pattern) { return index }
        }
        return nil
    }
}
