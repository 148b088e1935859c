import Foundation
import Testing

@Suite("README tells the truth")
struct ReadmeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("README's BookTrip is the code that runs")
    func bookTripExampleIsTheCode() throws {
        let readme = try String(contentsOf: Self.root.appending(path: "README.md"), encoding: .utf8)
        let source = try String(
            contentsOf: Self.root.appending(path: "Sources/TripBooking/BookTrip.swift"), encoding: .utf8)
        let block = try #require(
            readme.components(separatedBy: "```swift\n").dropFirst().first { $0.hasPrefix("public struct BookTrip") }
        )
        let example = try #require(block.components(separatedBy: "```").first)
        #expect(source.contains(example), "README's BookTrip differs from Sources/TripBooking/BookTrip.swift")
    }

    @Test("README names the two commands, and the Makefile has them")
    func commands() throws {
        let readme = try String(contentsOf: Self.root.appending(path: "README.md"), encoding: .utf8)
        let makefile = try String(contentsOf: Self.root.appending(path: "Makefile"), encoding: .utf8)
        for target in ["demo", "test"] {
            #expect(readme.contains("make \(target)"))
            #expect(makefile.contains("\n\(target):"))
        }
    }
}
