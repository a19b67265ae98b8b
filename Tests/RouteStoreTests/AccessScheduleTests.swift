import Foundation
import XCTest

@testable import RouteStore

// Reference weeks: 2026-06-01 and 2026-01-05 are Mondays. Europe/Berlin changes clocks on
// 2026-03-29 (01:00Z, 02:00 CET -> 03:00 CEST) and 2026-10-25 (01:00Z, 03:00 CEST -> 02:00 CET);
// America/New_York on 2026-03-08 (07:00Z, 02:00 EST -> 03:00 EDT) and 2026-11-01 (06:00Z,
// 02:00 EDT -> 01:00 EST).
final class AccessScheduleTests: XCTestCase {
    // MARK: - Inside or outside

    func testWeekdaysAndWeekend() throws {
        try assertAllows("Mon-Fri 08:00-19:00 Europe/Berlin", [
            ("2026-06-01T08:00:00+02:00", true),   // Monday, the start is inside
            ("2026-06-01T07:59:59+02:00", false),
            ("2026-06-01T18:59:59+02:00", true),
            ("2026-06-01T19:00:00+02:00", false),  // the end is outside
            ("2026-06-01T06:00:00Z", true),
            ("2026-06-01T05:59:59Z", false),
            ("2026-06-03T12:00:00+02:00", true),   // Wednesday
            ("2026-06-05T18:30:00+02:00", true),   // Friday
            ("2026-06-06T12:00:00+02:00", false),  // Saturday
            ("2026-06-07T12:00:00+02:00", false),  // Sunday
            ("2026-06-08T03:00:00+02:00", false),  // Monday night
            ("2026-01-05T08:00:00+01:00", true),   // winter: CET
            ("2026-01-05T07:00:00Z", true),
            ("2026-01-05T06:59:59Z", false),
            ("2026-01-05T17:59:59Z", true),
            ("2026-01-05T18:00:00Z", false),
        ])
    }

    func testMidnightCrossing() throws {
        try assertAllows("Fri 22:00-02:00 UTC", [
            ("2026-06-05T21:59:59Z", false),
            ("2026-06-05T22:00:00Z", true),        // Friday 22:00
            ("2026-06-05T23:59:59Z", true),
            ("2026-06-06T00:00:00Z", true),        // into Saturday
            ("2026-06-06T01:59:59Z", true),
            ("2026-06-06T02:00:00Z", false),
            ("2026-06-05T01:00:00Z", false),       // the night from Thursday is not in it
            ("2026-06-06T22:30:00Z", false),       // Saturday does not start a window
        ])
        try assertAllows("Sun 22:00-02:00 UTC", [
            ("2026-06-07T22:00:00Z", true),        // Sunday
            ("2026-06-08T00:00:00Z", true),        // wraps into Monday
            ("2026-06-08T01:59:59Z", true),
            ("2026-06-08T02:00:00Z", false),
            ("2026-06-07T01:00:00Z", false),       // the night from Saturday
            ("2026-06-01T01:00:00Z", true),        // Monday 01:00 belongs to the Sunday before
        ])
        try assertAllows("daily 22:00-00:00 UTC", [
            ("2026-06-03T23:59:59Z", true),
            ("2026-06-04T00:00:00Z", false),
            ("2026-06-03T22:00:00Z", true),
        ])
        XCTAssertEqual(try AccessSchedule(parsing: "daily 22:00-00:00 UTC"), try AccessSchedule(parsing: "daily 22:00-24:00 UTC"))
        try assertAllows("Mon-Fri 20:00-08:00 Europe/Berlin", [
            ("2026-06-05T23:00:00+02:00", true),   // Friday night
            ("2026-06-06T07:59:59+02:00", true),   // Saturday morning, from Friday
            ("2026-06-06T20:00:00+02:00", false),  // Saturday evening
            ("2026-06-08T07:00:00+02:00", false),  // Monday morning: Sunday starts no window
            ("2026-06-08T20:00:00+02:00", true),
        ])
    }

    func testDayRangesListsAndWrapping() throws {
        let days: [(String, [String])] = [
            ("Fri-Mon", ["Fri", "Sat", "Sun", "Mon"]),
            ("Sun-Mon", ["Sun", "Mon"]),
            ("Sat-Sun", ["Sat", "Sun"]),
            ("Mon-Wed,Fri", ["Mon", "Tue", "Wed", "Fri"]),
            ("Mon,Wed,Fri", ["Mon", "Wed", "Fri"]),
            ("Thu-Tue", ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue"]),
            ("daily", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
            ("*", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
            ("DAILY", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
            ("mon-FRI", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
            ("Sat-Fri", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
            ("Mon,Mon-Tue", ["Mon", "Tue"]),
        ]
        let dates = ["Mon": "2026-06-01", "Tue": "2026-06-02", "Wed": "2026-06-03", "Thu": "2026-06-04",
                     "Fri": "2026-06-05", "Sat": "2026-06-06", "Sun": "2026-06-07"]
        for (text, expected) in days {
            let schedule = try AccessSchedule(parsing: "\(text) 10:00-11:00 UTC")
            for (name, date) in dates {
                XCTAssertEqual(schedule.allows(at("\(date)T10:30:00Z")), expected.contains(name), "\(text) on \(name)")
            }
        }
    }

    func testSeveralWindowsInDifferentZones() throws {
        // Monday in Tokyo (+09:00) comes first, then Monday in New York (EDT, -04:00).
        try assertAllows("Mon-Fri 09:00-17:00 America/New_York; Mon-Fri 09:00-17:00 Asia/Tokyo", [
            ("2026-05-31T23:59:59Z", false),       // Tokyo Monday 08:59:59
            ("2026-06-01T00:00:00Z", true),        // Tokyo Monday 09:00
            ("2026-06-01T07:59:59Z", true),
            ("2026-06-01T08:00:00Z", false),
            ("2026-06-01T12:59:59Z", false),
            ("2026-06-01T13:00:00Z", true),        // New York Monday 09:00
            ("2026-06-01T20:59:59Z", true),
            ("2026-06-01T21:00:00Z", false),
            ("2026-06-05T20:00:00Z", true),        // New York Friday
            ("2026-06-06T00:30:00Z", false),       // Tokyo Saturday
        ])
        try assertAllows("Mon 08:00-12:00 UTC; Mon 08:00-12:00 Europe/Berlin", [
            ("2026-06-01T06:00:00Z", true),        // Berlin 08:00
            ("2026-06-01T11:00:00Z", true),
            ("2026-06-01T12:00:00Z", false),
            ("2026-06-01T05:59:59Z", false),
        ])
    }

    func testAZoneAppliesToTheWindowsBeforeIt() throws {
        let schedule = try AccessSchedule(parsing: "Mon 08:00-09:00; Tue 08:00-09:00 UTC; Wed 08:00-09:00; Thu 08:00-09:00 Asia/Tokyo")
        XCTAssertEqual(schedule.windows.map(\.zone.name), ["UTC", "UTC", "Asia/Tokyo", "Asia/Tokyo"])
        XCTAssertTrue(schedule.allows(at("2026-06-01T08:30:00Z")))
        XCTAssertTrue(schedule.allows(at("2026-06-02T08:30:00Z")))
        XCTAssertTrue(schedule.allows(at("2026-06-03T08:30:00+09:00")))
        XCTAssertFalse(schedule.allows(at("2026-06-03T08:30:00Z")))
    }

    // MARK: - Daylight saving time

    func testBerlinSpringForward() throws {
        // 02:30 does not exist on 2026-03-29: the window opens at 03:00 CEST, the first instant after the gap.
        try assertAllows("Sun 02:30-03:30 Europe/Berlin", [
            ("2026-03-29T00:59:59Z", false),
            ("2026-03-29T01:00:00Z", true),
            ("2026-03-29T01:29:59Z", true),
            ("2026-03-29T01:30:00Z", false),
        ])
        try assertEnds("Sun 02:30-03:30 Europe/Berlin", [("2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z")])
        try assertOpens("Sun 02:30-03:30 Europe/Berlin", [("2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z")])

        // A window wholly inside the gap does not open that day.
        try assertAllows("Sun 02:00-02:45 Europe/Berlin", [
            ("2026-03-29T00:59:59Z", false),
            ("2026-03-29T01:00:00Z", false),
            ("2026-03-22T01:30:00Z", true),        // the week before: 02:30 CET
            ("2026-04-05T00:30:00Z", true),        // the week after: 02:30 CEST
        ])
        try assertOpens("Sun 02:00-02:45 Europe/Berlin", [("2026-03-29T00:00:00Z", "2026-04-05T00:00:00Z")])

        // A window ending inside the gap ends at the jump.
        try assertAllows("Sun 01:00-02:30 Europe/Berlin", [
            ("2026-03-29T00:00:00Z", true),
            ("2026-03-29T00:59:59Z", true),
            ("2026-03-29T01:00:00Z", false),
        ])
        try assertEnds("Sun 01:00-02:30 Europe/Berlin", [("2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z")])

        // An overnight window across the change is an hour shorter: 21:00Z to 04:00Z.
        try assertAllows("Sat 22:00-06:00 Europe/Berlin", [
            ("2026-03-28T20:59:59Z", false),
            ("2026-03-28T21:00:00Z", true),
            ("2026-03-29T03:59:59Z", true),
            ("2026-03-29T04:00:00Z", false),
        ])
        try assertEnds("Sat 22:00-06:00 Europe/Berlin", [("2026-03-28T21:00:00Z", "2026-03-29T04:00:00Z")])

        try assertAllows("daily 08:00-19:00 Europe/Berlin", [
            ("2026-03-28T07:00:00Z", true),        // Saturday, CET
            ("2026-03-28T06:59:59Z", false),
            ("2026-03-29T06:00:00Z", true),        // Sunday, CEST
            ("2026-03-29T05:59:59Z", false),
            ("2026-03-29T16:59:59Z", true),
            ("2026-03-29T17:00:00Z", false),
        ])
    }

    func testBerlinFallBack() throws {
        // 02:30 occurs at 00:30Z (CEST) and again at 01:30Z (CET): the window opens at the first
        // and ends at 03:30 CET, two hours later.
        try assertAllows("Sun 02:30-03:30 Europe/Berlin", [
            ("2026-10-25T00:29:59Z", false),
            ("2026-10-25T00:30:00Z", true),
            ("2026-10-25T01:15:00Z", true),
            ("2026-10-25T02:29:59Z", true),
            ("2026-10-25T02:30:00Z", false),
        ])
        try assertEnds("Sun 02:30-03:30 Europe/Berlin", [("2026-10-25T00:30:00Z", "2026-10-25T02:30:00Z")])
        try assertOpens("Sun 02:30-03:30 Europe/Berlin", [("2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z")])

        // Ending at a repeated time: the later 02:30.
        try assertAllows("Sun 01:00-02:30 Europe/Berlin", [
            ("2026-10-24T22:59:59Z", false),
            ("2026-10-24T23:00:00Z", true),        // 01:00 CEST
            ("2026-10-25T01:29:59Z", true),
            ("2026-10-25T01:30:00Z", false),       // 02:30 CET
        ])
        try assertEnds("Sun 01:00-02:30 Europe/Berlin", [("2026-10-24T23:00:00Z", "2026-10-25T01:30:00Z")])

        // The clock reads 03:00 only once (after 02:59:59 CEST it reads 02:00 CET).
        try assertAllows("Sun 03:00-04:00 Europe/Berlin", [
            ("2026-10-25T01:59:59Z", false),
            ("2026-10-25T02:00:00Z", true),
            ("2026-10-25T02:59:59Z", true),
            ("2026-10-25T03:00:00Z", false),
        ])

        // An overnight window across the change is an hour longer: 20:00Z to 05:00Z.
        try assertEnds("Sat 22:00-06:00 Europe/Berlin", [("2026-10-24T20:00:00Z", "2026-10-25T05:00:00Z")])
        try assertAllows("Sat 22:00-06:00 Europe/Berlin", [
            ("2026-10-24T19:59:59Z", false),
            ("2026-10-24T20:00:00Z", true),
            ("2026-10-25T04:59:59Z", true),
            ("2026-10-25T05:00:00Z", false),
        ])
    }

    func testNewYorkTransitions() throws {
        try assertAllows("Sun 02:15-02:45 America/New_York", [
            ("2026-03-01T07:15:00Z", true),        // the week before: 02:15 EST
            ("2026-03-08T06:59:59Z", false),
            ("2026-03-08T07:00:00Z", false),       // wholly in the gap
            ("2026-03-08T07:30:00Z", false),
            ("2026-03-15T06:15:00Z", true),        // the week after: 02:15 EDT
        ])
        try assertOpens("Sun 02:15-02:45 America/New_York", [("2026-03-08T06:00:00Z", "2026-03-15T06:15:00Z")])

        // 01:30 occurs at 05:30Z (EDT) and 06:30Z (EST); 02:00 only at 07:00Z (EST).
        try assertAllows("Sun 01:30-02:00 America/New_York", [
            ("2026-11-01T05:29:59Z", false),
            ("2026-11-01T05:30:00Z", true),
            ("2026-11-01T06:59:59Z", true),
            ("2026-11-01T07:00:00Z", false),
        ])
        try assertEnds("Sun 01:30-02:00 America/New_York", [("2026-11-01T05:30:00Z", "2026-11-01T07:00:00Z")])

        try assertAllows("Mon-Fri 09:00-17:00 America/New_York", [
            ("2026-03-06T14:00:00Z", true),        // Friday, EST
            ("2026-03-06T13:59:59Z", false),
            ("2026-03-09T13:00:00Z", true),        // Monday, EDT
            ("2026-03-09T12:59:59Z", false),
            ("2026-11-02T14:00:00Z", true),        // Monday, EST again
            ("2026-11-02T13:30:00Z", false),
        ])
    }

    func testADayTheZoneSkippedHasNoWindow() throws {
        // Samoa skipped Friday 2011-12-30 (UTC-10 to UTC+14 at 2011-12-30T10:00Z).
        let schedule = try AccessSchedule(parsing: "Fri 10:00-12:00 Pacific/Apia")
        XCTAssertTrue(schedule.allows(at("2011-12-23T20:30:00Z")))
        for instant in ["2011-12-30T09:59:59Z", "2011-12-30T10:00:00Z", "2011-12-30T20:30:00Z", "2011-12-31T10:30:00Z"] {
            XCTAssertFalse(schedule.allows(at(instant)), instant)
        }
        XCTAssertEqual(schedule.nextOpening(after: at("2011-12-29T00:00:00Z")), at("2012-01-05T20:00:00Z"))
    }

    // MARK: - Window ends

    func testWindowEnd() throws {
        try assertEnds("Mon-Fri 00:00-24:00 UTC", [
            ("2026-06-03T12:00:00Z", "2026-06-06T00:00:00Z"),  // touching days end on Saturday
            ("2026-06-01T00:00:00Z", "2026-06-06T00:00:00Z"),
            ("2026-06-05T23:59:59Z", "2026-06-06T00:00:00Z"),
            ("2026-06-06T00:00:00Z", nil),
            ("2026-06-07T12:00:00Z", nil),
        ])
        try assertEnds("Mon-Fri 00:00-24:00 Europe/Berlin", [("2026-03-25T12:00:00Z", "2026-03-27T23:00:00Z")])
        try assertEnds("Fri 22:00-02:00 UTC", [
            ("2026-06-05T23:00:00Z", "2026-06-06T02:00:00Z"),
            ("2026-06-06T01:00:00Z", "2026-06-06T02:00:00Z"),
            ("2026-06-06T02:00:00Z", nil),
            ("2026-06-05T21:59:59Z", nil),
        ])
        try assertEnds("Fri 22:00-02:00; Sat 02:00-04:00 UTC", [("2026-06-05T23:00:00Z", "2026-06-06T04:00:00Z")])
        try assertEnds("Mon 08:00-12:00; Mon 11:00-14:00 UTC", [
            ("2026-06-01T09:00:00Z", "2026-06-01T14:00:00Z"),
            ("2026-06-01T11:30:00Z", "2026-06-01T14:00:00Z"),
            ("2026-06-01T12:30:00Z", "2026-06-01T14:00:00Z"),
        ])
        try assertEnds("Mon 08:00-12:00 UTC; Mon 13:00-15:00 Europe/Berlin", [("2026-06-01T09:00:00Z", "2026-06-01T13:00:00Z")])
        try assertEnds("Sun 20:00-24:00; Mon 00:00-06:00 UTC", [("2026-06-07T21:00:00Z", "2026-06-08T06:00:00Z")])
        try assertEnds("Sat-Sun 00:00-24:00; Mon 00:00-08:00 UTC", [("2026-06-06T10:00:00Z", "2026-06-08T08:00:00Z")])
    }

    func testAScheduleThatNeverClosesHasNoEndAndNoNextOpening() throws {
        for text in ["daily 00:00-24:00 UTC", "Mon-Sun 00:00-24:00 Europe/Berlin", "daily 12:00-12:01; daily 12:01-12:00 Asia/Tokyo"] {
            let schedule = try AccessSchedule(parsing: text)
            for instant in ["2026-06-03T12:00:00Z", "2026-10-25T01:30:00Z", "2026-03-29T01:00:00Z"] {
                XCTAssertTrue(schedule.allows(at(instant)), "\(text) at \(instant)")
                XCTAssertEqual(schedule.windowEnd(containing: at(instant)), .distantFuture, "\(text) at \(instant)")
                XCTAssertNil(schedule.nextOpening(after: at(instant)), "\(text) at \(instant)")
            }
        }
    }

    // MARK: - Next opening

    func testNextOpening() throws {
        try assertOpens("Mon-Fri 08:00-19:00 Europe/Berlin", [
            ("2026-06-06T12:00:00Z", "2026-06-08T06:00:00Z"),  // from the weekend
            ("2026-06-01T05:00:00Z", "2026-06-01T06:00:00Z"),  // before Monday's window
            ("2026-06-01T05:59:59Z", "2026-06-01T06:00:00Z"),
            ("2026-06-01T06:00:00Z", "2026-06-02T06:00:00Z"),  // at the start: the next one
            ("2026-06-01T10:00:00Z", "2026-06-02T06:00:00Z"),  // inside
            ("2026-06-01T17:00:00Z", "2026-06-02T06:00:00Z"),  // just at the end
            ("2026-06-05T17:00:00Z", "2026-06-08T06:00:00Z"),  // Friday's end
            ("2026-03-27T18:00:00Z", "2026-03-30T06:00:00Z"),  // across the change to CEST
        ])
        try assertOpens("Mon-Fri 00:00-24:00 UTC", [
            ("2026-06-03T12:00:00Z", "2026-06-08T00:00:00Z"),  // touching days are one stretch
            ("2026-06-06T00:00:00Z", "2026-06-08T00:00:00Z"),
        ])
        try assertOpens("Sun 22:00-02:00 UTC", [
            ("2026-06-08T01:00:00Z", "2026-06-14T22:00:00Z"),
            ("2026-06-08T02:00:00Z", "2026-06-14T22:00:00Z"),
            ("2026-06-07T21:00:00Z", "2026-06-07T22:00:00Z"),
        ])
        try assertOpens("Mon 08:00-12:00 UTC; Mon 09:00-10:00 Asia/Tokyo", [
            ("2026-05-31T23:00:00Z", "2026-06-01T00:00:00Z"),  // Tokyo opens first
            ("2026-06-01T00:30:00Z", "2026-06-01T08:00:00Z"),
        ])
    }

    // MARK: - Agreement

    /// allows, windowEnd and nextOpening give one consistent picture, including across every
    /// change of clocks in the ranges swept.
    func testAllowsWindowEndAndNextOpeningAgree() throws {
        let schedules = [
            "Mon-Fri 08:00-19:00 Europe/Berlin",
            "Sat 22:00-06:00; Sun 01:00-02:30; Sun 02:30-03:30 Europe/Berlin",
            "Sun 02:15-02:45; Sat-Sun 23:00-01:30 America/New_York",
            "Fri-Mon 22:00-02:00 UTC; Mon-Fri 09:00-17:00 Asia/Tokyo; Sun 00:00-24:00 America/New_York",
        ]
        let ranges = [("2026-03-06T00:00:00Z", "2026-03-10T00:00:00Z"), ("2026-03-27T00:00:00Z", "2026-03-31T00:00:00Z"),
                      ("2026-10-23T00:00:00Z", "2026-10-27T00:00:00Z"), ("2026-10-30T00:00:00Z", "2026-11-03T00:00:00Z")]
        for text in schedules {
            let schedule = try AccessSchedule(parsing: text)
            for (from, to) in ranges {
                var instant = at(from)
                while instant < at(to) {
                    assertConsistent(schedule, at: instant, text)
                    instant += 37 * 60
                }
            }
        }
    }

    /// Away from clock changes, allows matches the wall-clock rule read off a Gregorian Calendar
    /// in each window's zone.
    func testAllowsMatchesTheWallClock() throws {
        let text = "Mon-Fri 08:00-19:00 Europe/Berlin; Fri-Mon 22:30-01:15 UTC; Wed,Sat 09:00-17:00 America/New_York; Sun 00:00-24:00 Asia/Tokyo"
        let schedule = try AccessSchedule(parsing: text)
        var instant = at("2026-06-01T00:00:00Z")
        while instant < at("2026-06-15T00:00:00Z") {
            for probe in [instant, instant - 1] {
                XCTAssertEqual(schedule.allows(probe), wallClockAllows(schedule, probe), "\(probe)")
            }
            instant += 15 * 60
        }
    }

    // MARK: - Canonical text and summary

    func testCanonicalRoundTrip() throws {
        let cases: [(String, String)] = [
            ("Mon-Fri 08:00-19:00 Europe/Berlin", "Mon-Fri 08:00-19:00 Europe/Berlin"),
            ("mon-fri 8:00-19:00 Europe/Berlin", "Mon-Fri 08:00-19:00 Europe/Berlin"),
            ("Mon,Tue,Wed,Thu,Fri 08:00-19:00 utc", "Mon-Fri 08:00-19:00 UTC"),
            ("Fri,Sat,Sun,Mon 10:00-11:00 UTC", "Fri-Mon 10:00-11:00 UTC"),
            ("Sun,Mon,Wed 10:00-11:00 UTC", "Wed,Sun-Mon 10:00-11:00 UTC"),
            ("Mon-Wed,Fri 09:00-10:00 UTC", "Mon-Wed,Fri 09:00-10:00 UTC"),
            ("Mon,Wed,Fri 09:00-10:00 UTC", "Mon,Wed,Fri 09:00-10:00 UTC"),
            ("Mon,Mon-Tue 09:00-10:00 UTC", "Mon-Tue 09:00-10:00 UTC"),
            ("* 00:00-24:00 UTC", "daily 00:00-24:00 UTC"),
            ("Mon-Sun 09:00-10:00 UTC", "daily 09:00-10:00 UTC"),
            ("Fri 22:00-00:00 UTC", "Fri 22:00-24:00 UTC"),
            ("Fri 22:00-02:00 UTC", "Fri 22:00-02:00 UTC"),
            ("  Mon 08:00-09:00   UTC ;\tTue 10:00-11:00\tUTC ", "Mon 08:00-09:00; Tue 10:00-11:00 UTC"),
            ("Mon 08:00-09:00 UTC; Tue 10:00-11:00 Europe/Berlin", "Mon 08:00-09:00 UTC; Tue 10:00-11:00 Europe/Berlin"),
            ("Mon 08:00-09:00; Tue 10:00-11:00 UTC; Wed 08:00-09:00 Europe/Berlin",
             "Mon 08:00-09:00; Tue 10:00-11:00 UTC; Wed 08:00-09:00 Europe/Berlin"),
            ("Mon 08:00-09:00 Asia/Tokyo; Tue 08:00-09:00 UTC; Wed 08:00-09:00 Asia/Tokyo",
             "Mon 08:00-09:00 Asia/Tokyo; Tue 08:00-09:00 UTC; Wed 08:00-09:00 Asia/Tokyo"),
            ("Mon-Fri 09:00-17:00 America/Argentina/Buenos_Aires", "Mon-Fri 09:00-17:00 America/Argentina/Buenos_Aires"),
        ]
        for (input, canonical) in cases {
            let schedule = try AccessSchedule(parsing: input)
            XCTAssertEqual(schedule.description, canonical, input)
            XCTAssertEqual(try AccessSchedule(parsing: schedule.description), schedule, input)
            XCTAssertEqual(try AccessSchedule(parsing: canonical).description, canonical, input)
        }
    }

    func testEquality() throws {
        XCTAssertEqual(try AccessSchedule(parsing: "Mon-Fri 08:00-19:00 UTC"), try AccessSchedule(parsing: "mon,tue,wed,thu,fri 8:00-19:00 UTC"))
        XCTAssertNotEqual(try AccessSchedule(parsing: "Mon-Fri 08:00-19:00 UTC"), try AccessSchedule(parsing: "Mon-Fri 08:00-19:00 Europe/London"))
        XCTAssertNotEqual(try AccessSchedule(parsing: "Mon-Fri 08:00-19:00 UTC"), try AccessSchedule(parsing: "Mon-Fri 08:00-18:00 UTC"))
        XCTAssertNotEqual(try AccessSchedule(parsing: "Mon-Fri 08:00-19:00 UTC"), try AccessSchedule(parsing: "Mon-Sat 08:00-19:00 UTC"))
    }

    func testSummary() throws {
        let cases: [(String, String)] = [
            ("Mon-Fri 08:00-19:00 Europe/Berlin", "Mon-Fri 08:00-19:00 Europe/Berlin"),
            ("Mon,Wed 08:00-12:00; Sat 00:00-24:00 UTC", "Mon, Wed 08:00-12:00 and Sat all day UTC"),
            ("Fri 22:00-02:00 UTC", "Fri 22:00-02:00 next day UTC"),
            ("daily 08:00-09:00 UTC", "daily 08:00-09:00 UTC"),
            ("Fri-Mon 20:00-24:00 UTC", "Fri-Mon 20:00-24:00 UTC"),
            ("Mon-Fri 09:00-17:00 America/New_York; Mon-Fri 09:00-17:00 Asia/Tokyo",
             "Mon-Fri 09:00-17:00 America/New_York and Mon-Fri 09:00-17:00 Asia/Tokyo"),
        ]
        for (input, summary) in cases {
            XCTAssertEqual(try AccessSchedule(parsing: input).summary, summary, input)
        }
    }

    // MARK: - Refusals

    func testRefusals() {
        let thirtyThree = Array(repeating: "* 1:00-2:00", count: 33).joined(separator: ";") + " UTC"
        let cases: [(String, String)] = [
            ("", "the schedule is empty; write windows such as Mon-Fri 08:00-19:00 Europe/Berlin"),
            (" \t ", "the schedule is empty; write windows such as Mon-Fri 08:00-19:00 Europe/Berlin"),
            (String(repeating: "a", count: 513), "a schedule is at most 512 bytes (this one has 513)"),
            (thirtyThree, "a schedule has at most 32 windows (this one has 33)"),
            ("Mon 08:00-19:00 UTC;", "window 2 is empty (a stray ';')"),
            ("Mon 08:00-19:00 UTC;;Tue 08:00-19:00 UTC", "window 2 is empty (a stray ';')"),
            ("Mon", "\"Mon\" is not a window: write DAYS HH:MM-HH:MM [ZONE], e.g. Mon-Fri 08:00-19:00 Europe/Berlin"),
            ("Mon 08:00-19:00 Europe/Berlin extra", "unexpected \"extra\" after the time zone in \"Mon 08:00-19:00 Europe/Berlin extra\"; separate windows with ';'"),
            ("Mnn 08:00-19:00 UTC", "unknown day \"Mnn\" in \"Mnn 08:00-19:00 UTC\"; days are Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range such as Mon-Fri, a list such as Mon,Wed,Fri, or daily"),
            ("Monday 08:00-19:00 UTC", "unknown day \"Monday\" in \"Monday 08:00-19:00 UTC\"; days are Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range such as Mon-Fri, a list such as Mon,Wed,Fri, or daily"),
            ("Mon-Fry 08:00-19:00 UTC", "unknown day \"Fry\" in \"Mon-Fry 08:00-19:00 UTC\"; days are Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range such as Mon-Fri, a list such as Mon,Wed,Fri, or daily"),
            ("Mon,,Fri 08:00-19:00 UTC", "a missing day in \"Mon,,Fri\" in \"Mon,,Fri 08:00-19:00 UTC\"; days are Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range such as Mon-Fri, a list such as Mon,Wed,Fri, or daily"),
            ("Mon- 08:00-19:00 UTC", "a missing day in \"Mon-\" in \"Mon- 08:00-19:00 UTC\"; days are Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range such as Mon-Fri, a list such as Mon,Wed,Fri, or daily"),
            ("Mon-Mon 08:00-19:00 UTC", "\"Mon-Mon\" in \"Mon-Mon 08:00-19:00 UTC\" is not a range: write Mon for one day, or daily for the whole week"),
            ("Mon-Tue-Wed 08:00-19:00 UTC", "\"Mon-Tue-Wed\" in \"Mon-Tue-Wed 08:00-19:00 UTC\" is not a day range: write FIRST-LAST, e.g. Mon-Fri"),
            ("08:00-19:00 UTC", "\"08:00-19:00 UTC\" starts with a time: name the days first, e.g. Mon-Fri 08:00-19:00 Europe/Berlin"),
            ("Mon 08:00 UTC", "\"08:00\" in \"Mon 08:00 UTC\" is not a time range: write START-END, e.g. 08:00-19:00"),
            ("Mon 0800-1900 UTC", "\"0800\" in \"Mon 0800-1900 UTC\" is not a time: write HH:MM, e.g. 08:00"),
            ("Mon 008:00-19:00 UTC", "\"008:00\" in \"Mon 008:00-19:00 UTC\" is not a time: write HH:MM, e.g. 08:00"),
            ("Mon 08:0-19:00 UTC", "\"08:0\" in \"Mon 08:0-19:00 UTC\" is not a time: write HH:MM, e.g. 08:00"),
            ("Mon 08:00:00-19:00 UTC", "\"08:00:00\" in \"Mon 08:00:00-19:00 UTC\" is not a time: write HH:MM, e.g. 08:00"),
            ("Mon \u{FF18}:00-19:00 UTC", "\"\u{FF18}:00\" in \"Mon \u{FF18}:00-19:00 UTC\" is not a time: write HH:MM, e.g. 08:00"),
            ("Mon 25:00-26:00 UTC", "\"25:00\" in \"Mon 25:00-26:00 UTC\" is not a time of day: hours run from 00 to 23, and 24:00 may end a window"),
            ("Mon 08:00-24:30 UTC", "\"24:30\" in \"Mon 08:00-24:30 UTC\" is not a time of day: hours run from 00 to 23, and 24:00 may end a window"),
            ("Mon 08:60-09:00 UTC", "\"08:60\" in \"Mon 08:60-09:00 UTC\" is not a time of day: minutes run from 00 to 59"),
            ("Mon 24:00-02:00 UTC", "\"Mon 24:00-02:00 UTC\" starts at 24:00: a window starts from 00:00 to 23:59 (24:00 can only end one)"),
            ("Mon 08:00-08:00 UTC", "\"08:00-08:00\" in \"Mon 08:00-08:00 UTC\" is an empty window: write 00:00-24:00 for a whole day"),
            ("Mon 00:00-00:00 UTC", "\"00:00-00:00\" in \"Mon 00:00-00:00 UTC\" is an empty window: write 00:00-24:00 for a whole day"),
            ("Mon 08:00-19:00", "\"Mon 08:00-19:00\" has no time zone: give a time zone, e.g. Europe/Berlin or UTC"),
            ("Mon 08:00-19:00 UTC; Tue 08:00-19:00", "\"Tue 08:00-19:00\" has no time zone: give a time zone, e.g. Europe/Berlin or UTC"),
            ("Mon 08:00-19:00 Europe/Berln", "unknown time zone \"Europe/Berln\" in \"Mon 08:00-19:00 Europe/Berln\": write an IANA name such as Europe/Berlin, or UTC"),
            ("Mon 08:00-19:00 Europe/../../etc/passwd", "unknown time zone \"Europe/../../etc/passwd\" in \"Mon 08:00-19:00 Europe/../../etc/passwd\": write an IANA name such as Europe/Berlin, or UTC"),
            ("Mon 08:00-19:00 Mars/Olympus", "unknown time zone \"Mars/Olympus\" in \"Mon 08:00-19:00 Mars/Olympus\": write a region name such as Europe/Berlin or America/New_York, or UTC (abbreviations like CET or EST do not say when daylight saving time applies)"),
        ]
        for (text, message) in cases {
            assertRefused(text, message)
        }
        for zone in ["CET", "EST", "PST", "GMT", "EST5EDT", "Etc/UTC", "Etc/GMT+5", "US/Eastern"] {
            assertRefused("Mon 08:00-19:00 \(zone)",
                          "\"\(zone)\" is not a region time zone in \"Mon 08:00-19:00 \(zone)\": write a region name such as Europe/Berlin or America/New_York, or UTC (abbreviations like CET or EST do not say when daylight saving time applies)")
        }
    }

    func testRefusalsShowControlCharactersAndStayShort() {
        assertRefused("Mon 08:00-19:00 Europe/Berlin\u{1b}[2J", "unknown time zone \"Europe/Berlin\\u{1b}[2J\" in \"Mon 08:00-19:00 Europe/Berlin\\u{1b}[2J\": write an IANA name such as Europe/Berlin, or UTC")
        assertRefused("Mon 08:00-19:00\nUTC", "\"19:00\\u{a}UTC\" in \"Mon 08:00-19:00\\u{a}UTC\" is not a time: write HH:MM, e.g. 08:00")
        let long = "Mon 08:00-19:00 " + String(repeating: "x", count: 200)
        do {
            _ = try AccessSchedule(parsing: long)
            XCTFail("accepted \(long)")
        } catch {
            XCTAssertEqual(error.code, "invalid-policy")
            XCTAssertTrue(error.description.hasPrefix("invalid access policy: "), error.description)
            XCTAssertLessThan(error.description.count, 400, error.description)
        }
    }

    func testAcceptsTheLimits() throws {
        let thirtyTwo = Array(repeating: "* 1:00-2:00", count: 32).joined(separator: ";") + " UTC"
        XCTAssertEqual(try AccessSchedule(parsing: thirtyTwo).windows.count, 32)
        let padded = "Mon 08:00-19:00 UTC" + String(repeating: " ", count: 512 - 19)
        XCTAssertEqual(padded.utf8.count, 512)
        XCTAssertEqual(try AccessSchedule(parsing: padded).description, "Mon 08:00-19:00 UTC")
    }

    func testDatesNoScheduleCanHold() throws {
        let schedule = try AccessSchedule(parsing: "daily 08:00-19:00 UTC")
        for date in [Date(timeIntervalSince1970: .nan), Date(timeIntervalSince1970: .infinity), Date(timeIntervalSince1970: -.infinity)] {
            XCTAssertFalse(schedule.allows(date))
            XCTAssertNil(schedule.windowEnd(containing: date))
            XCTAssertNil(schedule.nextOpening(after: date))
        }
        XCTAssertNotNil(schedule.nextOpening(after: .distantPast))
        XCTAssertNotNil(schedule.nextOpening(after: .distantFuture))
    }

    // MARK: - Helpers

    private func at(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let date = formatter.date(from: text) else {
            XCTFail("not an ISO 8601 instant: \(text)", file: file, line: line)
            return .distantPast
        }
        return date
    }

    private func assertAllows(_ text: String, _ cases: [(String, Bool)], file: StaticString = #filePath, line: UInt = #line) throws {
        let schedule = try AccessSchedule(parsing: text)
        for (instant, expected) in cases {
            let date = at(instant, file: file, line: line)
            XCTAssertEqual(schedule.allows(date), expected, "\(text) at \(instant)", file: file, line: line)
            assertConsistent(schedule, at: date, text, file: file, line: line)
        }
    }

    private func assertEnds(_ text: String, _ cases: [(String, String?)], file: StaticString = #filePath, line: UInt = #line) throws {
        let schedule = try AccessSchedule(parsing: text)
        for (instant, end) in cases {
            XCTAssertEqual(schedule.windowEnd(containing: at(instant)), end.map { at($0) }, "\(text) from \(instant)", file: file, line: line)
        }
    }

    private func assertOpens(_ text: String, _ cases: [(String, String)], file: StaticString = #filePath, line: UInt = #line) throws {
        let schedule = try AccessSchedule(parsing: text)
        for (instant, opening) in cases {
            XCTAssertEqual(schedule.nextOpening(after: at(instant)), at(opening), "\(text) after \(instant)", file: file, line: line)
        }
    }

    private func assertRefused(_ text: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let schedule = try AccessSchedule(parsing: text)
            XCTFail("accepted \(text.debugDescription) as \(schedule)", file: file, line: line)
        } catch {
            XCTAssertEqual(error, .invalidPolicy(message), text.debugDescription, file: file, line: line)
        }
    }

    /// The three answers agree at `date`: windowEnd is non-nil exactly when allows is true, the
    /// stretch runs to its end and no further, and the next opening is allowed after a refusal.
    private func assertConsistent(_ schedule: AccessSchedule, at date: Date, _ text: String, file: StaticString = #filePath, line: UInt = #line) {
        let context = "\(text) at \(date)"
        let allowed = schedule.allows(date)
        let end = schedule.windowEnd(containing: date)
        XCTAssertEqual(allowed, end != nil, context, file: file, line: line)
        if let end, end != .distantFuture {
            XCTAssertGreaterThan(end, date, context, file: file, line: line)
            XCTAssertFalse(schedule.allows(end), context, file: file, line: line)
            XCTAssertTrue(schedule.allows(end - 1), context, file: file, line: line)
            XCTAssertEqual(schedule.windowEnd(containing: end - 1), end, context, file: file, line: line)
        }
        guard let opening = schedule.nextOpening(after: date) else {
            XCTAssertEqual(end, .distantFuture, context, file: file, line: line)
            return
        }
        XCTAssertGreaterThan(opening, date, context, file: file, line: line)
        XCTAssertTrue(schedule.allows(opening), context, file: file, line: line)
        XCTAssertFalse(schedule.allows(opening - 1), context, file: file, line: line)
        if let end {
            XCTAssertGreaterThan(opening, end, context, file: file, line: line)
            XCTAssertEqual(schedule.nextOpening(after: end), opening, context, file: file, line: line)
        } else {
            XCTAssertNil(schedule.windowEnd(containing: opening - 1), context, file: file, line: line)
            XCTAssertEqual(schedule.nextOpening(after: opening - 1), opening, context, file: file, line: line)
        }
    }

    /// Whether a window holds `date` by its zone's wall clock, read with a Gregorian Calendar
    /// (valid away from changes of clocks).
    private func wallClockAllows(_ schedule: AccessSchedule, _ date: Date) -> Bool {
        schedule.windows.contains { window in
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = window.zone.timeZone
            let parts = calendar.dateComponents([.weekday, .hour, .minute, .second], from: date)
            guard let weekday = parts.weekday, let hour = parts.hour, let minute = parts.minute, let second = parts.second else { return false }
            let day = (weekday + 5) % 7  // Calendar's 1 is Sunday; the schedule's 0 is Monday
            let seconds = hour * 3600 + minute * 60 + second
            let startsOn = { (day: Int) in window.days & (1 << day) != 0 }
            if window.crossesMidnight {
                return (startsOn(day) && seconds >= window.start * 60) || (startsOn((day + 6) % 7) && seconds < window.end * 60)
            }
            return startsOn(day) && seconds >= window.start * 60 && seconds < window.end * 60
        }
    }
}
