import Foundation

/// A route's weekly login windows, each in an IANA time zone, e.g.
/// `Mon-Fri 08:00-19:00 Europe/Berlin` or `Mon-Fri 08:00-18:00; Sat 09:00-12:00 Europe/Berlin`.
///
/// Grammar (day names, `daily` and `UTC` are case-insensitive; a blank is a space or a tab):
///
///     schedule = window *( ";" window )                  ; 1 to 32 windows, at most 512 bytes
///     window   = *blank days 1*blank time "-" time [ 1*blank zone ] *blank
///     days     = "daily" / "*" / item *( "," item )
///     item     = day / day "-" day                       ; Fri-Mon wraps over the weekend
///     day      = "Mon" / "Tue" / "Wed" / "Thu" / "Fri" / "Sat" / "Sun"
///     time     = 1*2DIGIT ":" 2DIGIT                     ; 0:00 to 23:59; 24:00 only as an end
///     zone     = "UTC" / area "/" location               ; a name TimeZone(identifier:) knows
///     area     = "Africa" / "America" / "Antarctica" / "Arctic" / "Asia" / "Atlantic"
///              / "Australia" / "Europe" / "Indian" / "Pacific"
///
/// A window without a zone takes the zone of the nearest later window that has one, so a zone on
/// the last window applies to all of them. A window starts on each of its days at the first time
/// and ends at the second; an end before the start (or 00:00) is on the next day, so
/// `Fri 22:00-02:00` runs from Friday 22:00 to Saturday 02:00. A window cannot be empty
/// (`08:00-08:00` is refused): a whole day is `00:00-24:00`.
///
/// Times are wall-clock times in the window's zone. When daylight saving time skips a time (the
/// spring-forward gap), a window starting or ending at it does so at the first instant after the
/// gap: in Europe/Berlin on 2026-03-29, `02:30-03:30` runs from 03:00 to 03:30 CEST, and a window
/// lying wholly inside the gap does not open that day. When a time occurs twice (fall-back), a
/// window opens at its first occurrence and ends at its second: on 2026-10-25, `02:30-03:30`
/// runs from 02:30 CEST to 03:30 CET, two hours. In short, a window opens at the first instant
/// the clock reads its start and closes at the last instant the clock reaches its end.
public struct AccessSchedule: Sendable, Equatable, CustomStringConvertible {
    /// The most windows one schedule may have.
    public static let maximumWindows = 32
    /// The longest schedule text accepted, in UTF-8 bytes.
    public static let maximumLength = 512

    /// The windows in the order they were written.
    let windows: [Window]

    /// Parses schedule text (see the grammar above); the error names the part that is wrong.
    public init(parsing text: String) throws(RouteStoreError) {
        guard text.utf8.count <= Self.maximumLength else {
            throw .invalidPolicy("a schedule is at most \(Self.maximumLength) bytes (this one has \(text.utf8.count))")
        }
        guard text.contains(where: { !Self.isBlank($0) }) else {
            throw .invalidPolicy("the schedule is empty; write windows such as Mon-Fri 08:00-19:00 Europe/Berlin")
        }
        let pieces = text.split(separator: ";", omittingEmptySubsequences: false)
        guard pieces.count <= Self.maximumWindows else {
            throw .invalidPolicy("a schedule has at most \(Self.maximumWindows) windows (this one has \(pieces.count))")
        }
        var drafts: [(days: UInt8, start: Int, end: Int, zone: Zone?, text: Substring)] = []
        for (index, piece) in pieces.enumerated() {
            let tokens = piece.split(whereSeparator: Self.isBlank)
            guard let daysToken = tokens.first else {
                throw .invalidPolicy("window \(index + 1) is empty (a stray ';')")
            }
            let windowText = tokens.joined(separator: " ")[...]
            guard tokens.count >= 2 else {
                throw .invalidPolicy("\(shown(windowText)) is not a window: write DAYS HH:MM-HH:MM [ZONE], e.g. Mon-Fri 08:00-19:00 Europe/Berlin")
            }
            guard tokens.count <= 3 else {
                throw .invalidPolicy("unexpected \(shown(tokens[3])) after the time zone in \(shown(windowText)); separate windows with ';'")
            }
            let days = try Self.days(daysToken, in: windowText)
            let (start, end) = try Self.times(tokens[1], in: windowText)
            let zone = try tokens.count == 3 ? Zone(tokens[2], in: windowText) : nil
            drafts.append((days, start, end, zone, windowText))
        }
        var laterZone: Zone?
        var windows: [Window] = []
        for draft in drafts.reversed() {
            guard let zone = draft.zone ?? laterZone else {
                throw .invalidPolicy("\(shown(draft.text)) has no time zone: give a time zone, e.g. Europe/Berlin or UTC")
            }
            laterZone = zone
            windows.append(Window(days: draft.days, start: draft.start, end: draft.end, zone: zone))
        }
        self.windows = windows.reversed()
    }

    /// The canonical text: `init(parsing: description)` gives an equal schedule. A zone is written
    /// once for each run of windows that share it, on the run's last window.
    public var description: String {
        windows.indices.map { index in
            let window = windows[index]
            var text = "\(Self.daysText(window.days, range: "-", list: ",")) \(Self.clock(window.start))-\(Self.clock(window.end))"
            if index == windows.count - 1 || windows[index + 1].zone != window.zone { text += " \(window.zone.name)" }
            return text
        }.joined(separator: "; ")
    }

    /// The schedule in plain words for users and operators, e.g. `Mon-Fri 08:00-19:00 Europe/Berlin` (ASCII: it is shown in terminals of any locale)
    /// or `Mon, Wed 08:00-12:00 and Sat all day UTC`; it reads after "allowed".
    public var summary: String {
        let oneZone = windows.allSatisfy { $0.zone == windows[0].zone }
        let parts = windows.map { window in
            let days = Self.daysText(window.days, range: "-", list: ", ")
            let times = window.start == 0 && window.end == Self.minutesPerDay
                ? "all day"
                : "\(Self.clock(window.start))-\(Self.clock(window.end))\(window.crossesMidnight ? " next day" : "")"
            return oneZone ? "\(days) \(times)" : "\(days) \(times) \(window.zone.name)"
        }
        let joined = parts.joined(separator: " and ")
        return oneZone ? "\(joined) \(windows[0].zone.name)" : joined
    }

    /// True if `date` is inside a window (a window's start is inside, its end is not).
    public func allows(_ date: Date) -> Bool {
        guard let instant = Self.instant(date) else { return false }
        return intervals(opening: instant - Self.lookBack, to: instant.nextUp).contains { Double($0.close) > instant }
    }

    /// When the window that contains `date` ends (nil if `date` is outside every window). For
    /// windows that touch or overlap, the end of the combined stretch. `Date.distantFuture` if
    /// the stretch runs on past a search horizon of 400 days, i.e. the schedule never closes.
    public func windowEnd(containing date: Date) -> Date? {
        guard let instant = Self.instant(date) else { return nil }
        return stretchEnd(from: instant).map { $0 == .infinity ? .distantFuture : Date(timeIntervalSince1970: $0) }
    }

    /// The next moment a window opens after `date`: the start of the next stretch in which
    /// `allows` is true, so from inside a window it is the opening after the current stretch ends.
    /// Nil if there is none within 400 days: a schedule that never closes never opens again.
    public func nextOpening(after date: Date) -> Date? {
        guard let instant = Self.instant(date) else { return nil }
        var from = instant
        if let end = stretchEnd(from: instant) {
            guard end != .infinity else { return nil }
            from = end
        }
        var lower = from.nextUp
        while lower - instant <= Self.horizon {
            let upper = lower + Self.chunk
            if let first = intervals(opening: lower, to: upper).first {
                return Date(timeIntervalSince1970: Double(first.open))
            }
            lower = upper
        }
        return nil
    }
}

// MARK: - Windows and zones

extension AccessSchedule {
    /// One weekly window: on each of its days it opens at `start` and closes at `end` (the next
    /// day if `end` is not after `start`), wall-clock time in `zone`.
    struct Window: Sendable, Equatable {
        /// Bit 0 is Monday, bit 6 Sunday: the days the window starts on.
        var days: UInt8
        /// Minutes after midnight, 0..<1440.
        var start: Int
        /// Minutes after midnight, 1...1440, never equal to `start`.
        var end: Int
        var zone: Zone

        var crossesMidnight: Bool { end < start }

        /// True if the window starts on `day` (days since 1970-01-01, a Thursday).
        func starts(onDay day: Int) -> Bool {
            let weekday = AccessSchedule.floorModulo(day + 3, 7)
            return days & (1 << weekday) != 0
        }

        /// The instants the window opens and closes when it starts on local `day`; equal when
        /// both fall into one skipped stretch of time.
        func interval(onDay day: Int) -> Interval {
            let secondsPerDay = AccessSchedule.secondsPerDay
            let endDay = crossesMidnight ? day + 1 : day
            return Interval(open: zone.instants(reading: day * secondsPerDay + start * 60).first,
                            close: zone.instants(reading: endDay * secondsPerDay + end * 60).last)
        }
    }

    /// One occurrence of a window, in seconds since 1970 (UTC).
    struct Interval: Equatable {
        var open: Int
        var close: Int
    }

    /// A time zone as written (`UTC` or an IANA region name) and the Foundation zone behind it.
    struct Zone: Sendable, Equatable {
        let name: String
        let timeZone: TimeZone

        /// The first parts of IANA region names; abbreviations, `Etc/` and legacy names such as
        /// `US/Eastern` are not region names.
        static let areas: Set<Substring> = ["Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"]

        init(_ text: Substring, in window: Substring) throws(RouteStoreError) {
            if text.uppercased() == "UTC" {
                self.init(name: "UTC", timeZone: .gmt)
                return
            }
            let allowed = text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "/_+-".unicodeScalars.contains($0)) }
            guard allowed, let first = text.split(separator: "/", omittingEmptySubsequences: false).first else {
                throw .invalidPolicy("unknown time zone \(shown(text)) in \(shown(window)): write an IANA name such as Europe/Berlin, or UTC")
            }
            let timeZone = TimeZone(identifier: String(text))
            guard text.contains("/"), Self.areas.contains(first) else {
                let what = timeZone == nil ? "unknown time zone \(shown(text))" : "\(shown(text)) is not a region time zone"
                throw .invalidPolicy("\(what) in \(shown(window)): write a region name such as Europe/Berlin or America/New_York, or UTC (abbreviations like CET or EST do not say when daylight saving time applies)")
            }
            guard let timeZone else {
                throw .invalidPolicy("unknown time zone \(shown(text)) in \(shown(window)): write an IANA name such as Europe/Berlin, or UTC")
            }
            self.init(name: String(text), timeZone: timeZone)
        }

        init(name: String, timeZone: TimeZone) {
            self.name = name
            self.timeZone = timeZone
        }

        static func == (lhs: Zone, rhs: Zone) -> Bool { lhs.name == rhs.name }

        /// Seconds east of UTC at `instant` (seconds since 1970).
        func offset(at instant: Int) -> Int {
            timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant)))
        }

        /// The local day (days since 1970-01-01 on the wall clock) at `instant`.
        func day(at instant: Double) -> Int {
            let seconds = Int(instant.rounded(.down))
            return AccessSchedule.floorDivide(seconds + offset(at: seconds), AccessSchedule.secondsPerDay)
        }

        /// The instants the wall clock reads `wall` (seconds since 1970 on the wall clock): its
        /// first and last occurrence, which differ when clocks fall back over it; both are the end
        /// of the gap when clocks spring forward over it.
        func instants(reading wall: Int) -> (first: Int, last: Int) {
            // Resolved from the zone's offsets rather than with Calendar.date(from:), which places
            // a skipped time at the earlier offset (02:30 becomes 03:30 CEST, not 03:00) and gives
            // no choice between two occurrences. The offsets are the tz data a Calendar uses.
            let before = offset(at: wall - AccessSchedule.secondsPerDay)
            let after = offset(at: wall + AccessSchedule.secondsPerDay)
            let occurrences = [before, after].map { wall - $0 }.filter { offset(at: $0) == wall - $0 }
            if let first = occurrences.min(), let last = occurrences.max() { return (first, last) }
            // Skipped: the offset changes from `before` to `after` between these two instants.
            var low = wall - after
            var high = wall - before
            let lowOffset = offset(at: low)
            guard low < high, lowOffset != offset(at: high) else { return (wall - before, wall - before) }
            while high - low > 1 {
                let middle = low + (high - low) / 2
                if offset(at: middle) == lowOffset { low = middle } else { high = middle }
            }
            return (high, high)
        }
    }
}

// MARK: - Stretches

extension AccessSchedule {
    static let secondsPerDay = 86_400
    static let minutesPerDay = 1_440
    /// How far back an occurrence containing an instant may have opened (a day's window plus a
    /// night's, plus any change of offset).
    static let lookBack = 4.0 * 86_400
    /// How many seconds of intervals are computed at once.
    static let chunk = 7.0 * 86_400
    /// How far `windowEnd` and `nextOpening` look ahead.
    static let horizon = 400.0 * 86_400

    /// Seconds since 1970, or nil for a date no schedule can hold (not finite, or beyond ±3000 years).
    static func instant(_ date: Date) -> Double? {
        let seconds = date.timeIntervalSince1970
        return seconds.isFinite && abs(seconds) < 1e11 ? seconds : nil
    }

    /// Every occurrence of every window that opens in `lower..<upper` and is not empty, sorted by
    /// opening (then closing).
    func intervals(opening lower: Double, to upper: Double) -> [Interval] {
        var found: [Interval] = []
        for window in windows {
            let firstDay = window.zone.day(at: lower) - 2
            let lastDay = window.zone.day(at: upper) + 1
            for day in firstDay...max(firstDay, lastDay) where window.starts(onDay: day) {
                let interval = window.interval(onDay: day)
                let open = Double(interval.open)
                if interval.open < interval.close, open >= lower, open < upper { found.append(interval) }
            }
        }
        return found.sorted { ($0.open, $0.close) < ($1.open, $1.close) }
    }

    /// The end of the stretch of touching or overlapping occurrences containing `instant`; nil if
    /// none contains it, infinity if the stretch runs past the horizon.
    func stretchEnd(from instant: Double) -> Double? {
        let containing = intervals(opening: instant - Self.lookBack, to: instant.nextUp).filter { Double($0.close) > instant }
        guard var end = containing.map({ Double($0.close) }).max() else { return nil }
        var lower = instant.nextUp
        while end - instant <= Self.horizon {
            let upper = lower + Self.chunk
            for interval in intervals(opening: lower, to: upper) {
                if Double(interval.open) > end { return end }
                end = max(end, Double(interval.close))
            }
            if end < upper { return end }
            lower = upper
        }
        return .infinity
    }

    static func floorDivide(_ value: Int, _ divisor: Int) -> Int {
        let quotient = value / divisor
        return value % divisor < 0 ? quotient - 1 : quotient
    }

    static func floorModulo(_ value: Int, _ divisor: Int) -> Int {
        let remainder = value % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}

// MARK: - Parsing and writing

extension AccessSchedule {
    /// Day names, Monday first (bit 0 of a window's days).
    static let dayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    static func isBlank(_ character: Character) -> Bool { character == " " || character == "\t" }

    static func days(_ token: Substring, in window: Substring) throws(RouteStoreError) -> UInt8 {
        let lowered = token.lowercased()
        if lowered == "daily" || lowered == "*" { return 0x7F }
        let hint = "days are Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range such as Mon-Fri, a list such as Mon,Wed,Fri, or daily"
        if token.contains(":") {
            throw .invalidPolicy("\(shown(window)) starts with a time: name the days first, e.g. Mon-Fri 08:00-19:00 Europe/Berlin")
        }
        var mask: UInt8 = 0
        for item in token.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = item.split(separator: "-", omittingEmptySubsequences: false)
            var numbers: [Int] = []
            for name in ends {
                guard let number = dayNames.firstIndex(where: { $0.lowercased() == name.lowercased() }) else {
                    let what = name.isEmpty ? "a missing day in \(shown(token))" : "unknown day \(shown(name))"
                    throw .invalidPolicy("\(what) in \(shown(window)); \(hint)")
                }
                numbers.append(number)
            }
            switch numbers.count {
            case 1:
                mask |= 1 << numbers[0]
            case 2 where numbers[0] != numbers[1]:
                var day = numbers[0]
                while true {
                    mask |= 1 << day
                    if day == numbers[1] { break }
                    day = (day + 1) % 7
                }
            case 2:
                throw .invalidPolicy("\(shown(item)) in \(shown(window)) is not a range: write \(dayNames[numbers[0]]) for one day, or daily for the whole week")
            default:
                throw .invalidPolicy("\(shown(item)) in \(shown(window)) is not a day range: write FIRST-LAST, e.g. Mon-Fri")
            }
        }
        return mask
    }

    /// Start and end in minutes after midnight; an end of 00:00 is stored as 24:00.
    static func times(_ token: Substring, in window: Substring) throws(RouteStoreError) -> (start: Int, end: Int) {
        let parts = token.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw .invalidPolicy("\(shown(token)) in \(shown(window)) is not a time range: write START-END, e.g. 08:00-19:00")
        }
        let start = try minutes(parts[0], in: window)
        var end = try minutes(parts[1], in: window)
        guard start < minutesPerDay else {
            throw .invalidPolicy("\(shown(window)) starts at 24:00: a window starts from 00:00 to 23:59 (24:00 can only end one)")
        }
        guard start != end else {
            throw .invalidPolicy("\(shown(token)) in \(shown(window)) is an empty window: write 00:00-24:00 for a whole day")
        }
        if end == 0 { end = minutesPerDay }
        return (start, end)
    }

    static func minutes(_ text: Substring, in window: Substring) throws(RouteStoreError) -> Int {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let isDigits = { (part: Substring) in part.unicodeScalars.allSatisfy { ("0"..."9").contains($0) } }
        guard parts.count == 2, (1...2).contains(parts[0].count), parts[1].count == 2, isDigits(parts[0]), isDigits(parts[1]),
              let hours = Int(parts[0]), let minutes = Int(parts[1]) else {
            throw .invalidPolicy("\(shown(text)) in \(shown(window)) is not a time: write HH:MM, e.g. 08:00")
        }
        guard hours < 24 || (hours == 24 && minutes == 0) else {
            throw .invalidPolicy("\(shown(text)) in \(shown(window)) is not a time of day: hours run from 00 to 23, and 24:00 may end a window")
        }
        guard minutes < 60 else {
            throw .invalidPolicy("\(shown(text)) in \(shown(window)) is not a time of day: minutes run from 00 to 59")
        }
        return hours * 60 + minutes
    }

    /// `HH:MM` for minutes after midnight (1440 is 24:00).
    static func clock(_ minutes: Int) -> String {
        let hours = minutes / 60, rest = minutes % 60
        return "\(hours < 10 ? "0" : "")\(hours):\(rest < 10 ? "0" : "")\(rest)"
    }

    /// `daily`, or runs of days (a run over the weekend stays whole, e.g. `Fri-Mon`) in the order
    /// of their first day, Monday first.
    static func daysText(_ mask: UInt8, range: String, list: String) -> String {
        if mask & 0x7F == 0x7F { return "daily" }
        let has = { (day: Int) in mask & (1 << (day % 7)) != 0 }
        var runs: [String] = []
        for first in 0..<7 where has(first) && !has(first + 6) {
            var length = 1
            while has(first + length) { length += 1 }
            let last = (first + length - 1) % 7
            runs.append(length == 1 ? dayNames[first] : "\(dayNames[first])\(range)\(dayNames[last])")
        }
        return runs.joined(separator: list)
    }
}

/// Quotes schedule text for an error message, showing control characters visibly and cutting
/// long text short.
private func shown(_ text: some StringProtocol) -> String { quoted(text, limit: 80) }
