import CLibSSH
import Foundation

/// Process-wide libssh initialisation. `ssh_init` must run once before any thread uses libssh.
public enum SSHLibrary {
    private static let initialised: Bool = {
        ssh_init() == SSH_OK
    }()

    /// Initialises libssh if it is not yet; safe to call from any thread.
    public static func initialise() {
        precondition(initialised, "libssh failed to initialise")
    }

    /// The linked libssh version, e.g. "0.10.6/openssl/zlib".
    public static var version: String { String(cString: ssh_version(0)) }
}
