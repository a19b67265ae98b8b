import CEventFD
import Foundation
import Synchronization

/// What the relay thread hands one watcher: the terminal's raw output and resizes, queued up to
/// a limit, and how the watch ended; plus an eventfd, readable whenever there is something new,
/// that the watcher's thread polls alongside its client's socket. Filled by the relay thread
/// (always under its `SessionWatch`'s lock, which is what makes closing the descriptor safe),
/// emptied by the watcher's thread; the relay never waits here longer than an append.
final class WatcherInbox: Sendable {
    /// Something the terminal did, stamped when the relay saw it.
    enum Item: Sendable {
        case output([UInt8], at: ContinuousClock.Instant)
        case resize(columns: Int, rows: Int, at: ContinuousClock.Instant)
    }

    private struct Queue {
        var items: [Item] = []
        /// What `items` costs against the limit.
        var cost = 0
        var end: WatchEnd?
    }

    /// What an item costs beyond its bytes (so that many tiny chunks are bounded too).
    private static let itemOverhead = 64

    /// The eventfd (non-blocking, close-on-exec); closed once, by `closeWakeDescriptor`.
    let wakeDescriptor: Int32
    private let bufferLimit: Int
    private let queue = Mutex(Queue())

    init(bufferLimit: Int) throws(ProxyError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw ProxyError(.resources, "cannot create an eventfd: \(String(cString: strerror(errno)))") }
        wakeDescriptor = fd
        self.bufferLimit = bufferLimit
    }

    /// Queues `item`; false if the watcher is gone over its limit, which drops it (`tooSlow`)
    /// with what it had queued left for it to take. Wakes the watcher only when its queue was
    /// empty: a wake-up not yet taken covers everything queued after it (`takeAll` clears the
    /// descriptor before it empties the queue).
    func offer(_ item: Item) -> Bool {
        let cost: Int
        switch item {
        case .output(let bytes, _): cost = bytes.count + Self.itemOverhead
        case .resize: cost = Self.itemOverhead
        }
        let (accepted, wake) = queue.withLock { queue -> (Bool, Bool) in
            guard queue.end == nil else { return (false, false) }
            guard queue.cost + cost <= bufferLimit else {
                queue.end = .tooSlow
                return (false, true)
            }
            queue.items.append(item)
            queue.cost += cost
            return (true, queue.items.count == 1)
        }
        if wake { signal() }
        return accepted
    }

    /// Ends the watch for `reason`; the watcher takes what is queued first.
    func finish(_ reason: WatchEnd) {
        queue.withLock { queue in
            if queue.end == nil { queue.end = reason }
        }
        signal()
    }

    /// Everything queued, and the end if the watch has ended. Clears the wake-up first, so
    /// whatever is queued after this wakes the watcher again.
    func takeAll() -> (items: [Item], end: WatchEnd?) {
        var count: UInt64 = 0
        _ = read(wakeDescriptor, &count, MemoryLayout<UInt64>.size)
        return queue.withLock { queue in
            let items = queue.items
            queue.items = []
            queue.cost = 0
            return (items, queue.end)
        }
    }

    /// Closes the eventfd. Only after the inbox was taken out of its `SessionWatch`: the relay
    /// signals only inboxes it holds, under the watch's lock.
    func closeWakeDescriptor() {
        close(wakeDescriptor)
    }

    /// Makes the eventfd readable. A non-blocking counter, so this never waits.
    private func signal() {
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, MemoryLayout<UInt64>.size)
    }
}
