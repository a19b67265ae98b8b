import Foundation

/// An ssh ProxyCommand that plays a load balancer speaking the PROXY protocol.
enum LoadBalancerScript {
    /// The script (MODE HOST PORT): it connects to the proxy, sends a PROXY header (v1, v2 or
    /// none) claiming 203.0.113.9:51000, then copies bytes both ways.
    static let text = """
        import socket, struct, sys, threading
        mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
        s = socket.create_connection((host, port))
        if mode == "v1":
            s.sendall(b"PROXY TCP4 203.0.113.9 198.51.100.1 51000 2222\\r\\n")
        elif mode == "v2":
            sig = b"\\r\\n\\r\\n\\x00\\r\\nQUIT\\n"
            block = socket.inet_aton("203.0.113.9") + socket.inet_aton("198.51.100.1") + struct.pack("!HH", 51000, 2222)
            s.sendall(sig + bytes([0x21, 0x11]) + struct.pack("!H", len(block)) + block)
        def up():
            while True:
                data = sys.stdin.buffer.read1(65536)
                if not data:
                    s.shutdown(socket.SHUT_WR)
                    return
                s.sendall(data)
        threading.Thread(target=up, daemon=True).start()
        while True:
            data = s.recv(65536)
            if not data:
                break
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        """

    /// Writes the script to a new temporary file and returns its path.
    static func install(in folder: String) throws -> String {
        let path = folder + "/balancer.py"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// ssh options that reach the proxy through the script, claiming 203.0.113.9:51000.
    static func sshOptions(script: String) -> [String] {
        ["-o", "ProxyCommand=/usr/bin/env python3 \(script) v1 127.0.0.1 %p"]
    }
}
