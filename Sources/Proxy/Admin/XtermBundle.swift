import Foundation

/// xterm.js for the console, made from Debian's own copy. Debian bookworm's `libjs-xterm`
/// 3.8.1 ships a browser file (`/usr/share/javascript/xterm/xterm.js`) that only wraps the
/// CommonJS entry point and fails in a browser ("exports is not defined"); the compiled
/// modules themselves are in `node-xterm` (`/usr/share/nodejs/xterm/lib`). This joins those
/// modules, once at start, into one script with a small CommonJS loader that sets
/// `window.Terminal`: no npm, no CDN, nothing copied into the repository.
enum XtermBundle {
    /// Where `node-xterm` installs the compiled modules.
    static let moduleDirectory = "/usr/share/nodejs/xterm/lib"
    /// Where `libjs-xterm` installs the style sheet.
    static let styleSheet = "/usr/share/javascript/xterm/xterm.css"
    /// The module whose exports are the `Terminal` class.
    static let entryModule = "xterm"

    /// The script, or nil when the modules are not installed.
    static func script(from directory: String = moduleDirectory) -> [UInt8]? {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return nil }
        var modules: [(name: String, source: String)] = []
        for case let path as String in enumerator where path.hasSuffix(".js") && !path.hasSuffix(".test.js") {
            guard let source = try? String(contentsOfFile: "\(directory)/\(path)", encoding: .utf8) else { continue }
            modules.append((String(path.dropLast(3)), source))
        }
        guard modules.contains(where: { $0.name == entryModule }) else { return nil }
        var script = "// xterm.js \u{2014} the CommonJS modules of Debian's node-xterm, joined by Switchboard's XtermBundle.\n"
        script += "(function (modules) {\n\(loader)\n})({\n"
        for module in modules.sorted(by: { $0.name < $1.name }) {
            // Each module is a function of its own; a source map comment would point nowhere.
            let source = module.source.replacingOccurrences(of: "//# sourceMappingURL=", with: "// source map: ")
            script += "\(String(decoding: (try? AdminJSON.encode(module.name)) ?? Data(), as: UTF8.self)): function (require, module, exports) {\n\(source)\n},\n"
        }
        script += "});\n"
        return Array(script.utf8)
    }

    /// Runs a module on first `require`, resolving `./` and `../` against the requiring
    /// module's folder, and publishes the entry module's exports as `window.Terminal`.
    private static let loader = """
          var cache = {};
          function resolve(from, request) {
            var parts = from.split('/');
            parts.pop();
            request.split('/').forEach(function (part) {
              if (part === '..') { parts.pop(); } else if (part !== '.' && part !== '') { parts.push(part); }
            });
            return parts.join('/');
          }
          function load(name) {
            if (cache[name]) { return cache[name].exports; }
            var factory = modules[name];
            if (!factory) { throw new Error('xterm module not found: ' + name); }
            var module = { exports: {} };
            cache[name] = module;
            factory(function (request) { return load(resolve(name, request)); }, module, module.exports);
            return module.exports;
          }
          window.Terminal = load('\(entryModule)');
        """
}
