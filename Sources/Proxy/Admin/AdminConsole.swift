import Foundation

/// The web console's files: its page, script and style sheet (embedded in the binary from
/// `Admin/Console/`), and xterm.js from Debian's packages (`XtermBundle`), read once from the
/// system's copy. The page holds no data of its own: everything it shows comes from `/v1`
/// with the token the operator signs in with, so these files need no token.
struct AdminConsole: Sendable {
    /// Scripts only from this origin, no inline script, no framing: whatever a user or a
    /// recording put in a page is text, never code.
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

    private struct File: Sendable {
        let contentType: String
        let bytes: [UInt8]
    }

    private let files: [String: File]

    /// Made on first use: a proxy whose admin listener is off never reads xterm.js.
    static let shared = AdminConsole()

    private init() {
        var files: [String: File] = [
            "/console/": File(contentType: "text/html; charset=utf-8", bytes: PackageResources.index_html),
            "/console/console.js": File(contentType: "text/javascript; charset=utf-8", bytes: PackageResources.console_js),
            "/console/console.css": File(contentType: "text/css; charset=utf-8", bytes: PackageResources.console_css),
        ]
        if let script = XtermBundle.script() {
            files["/console/xterm/xterm.js"] = File(contentType: "text/javascript; charset=utf-8", bytes: script)
        }
        if let style = FileManager.default.contents(atPath: XtermBundle.styleSheet) {
            files["/console/xterm/xterm.css"] = File(contentType: "text/css; charset=utf-8", bytes: Array(style))
        }
        self.files = files
    }

    /// True when xterm.js was found (the console's terminals need it).
    var hasTerminal: Bool { files["/console/xterm/xterm.js"] != nil }

    func reply(to request: HTTPRequest) -> HTTPReply {
        guard request.method == "GET" || request.method == "HEAD" else {
            return .response(AdminAPIError.methodNotAllowed(["GET"]).response)
        }
        if request.path == "/" || request.path == "/console" {
            return .response(HTTPResponse(status: 302, headers: [("Location", "/console/")], body: []))
        }
        if let file = files[request.path] {
            return .response(HTTPResponse(
                status: 200,
                headers: [("Content-Type", file.contentType), ("Content-Security-Policy", Self.contentSecurityPolicy), ("Cache-Control", "no-cache")],
                body: file.bytes))
        }
        if request.path.hasPrefix("/console/xterm/") {
            return .response(AdminAPIError(404, "not-found", "xterm.js is missing: install Debian's node-xterm and libjs-xterm packages").response)
        }
        return .response(AdminAPIError.notFound.response)
    }
}

/// The OpenAPI 3.1 description of `/v1`, embedded from `Admin/openapi.json` and served as it is.
enum AdminOpenAPI {
    static var document: [UInt8] { PackageResources.openapi_json }
}
