/// How the processor consumes, where it publishes and how much it keeps in memory.
public struct ProcessorConfiguration: Sendable {
    /// The queue the processor consumes: start commands, replies and its own timer wake-ups.
    public var queue = "chronicle.orchestrator"
    /// Where commands go (topic exchange).
    public var commandsExchange = "chronicle.commands"
    /// Where facts, trip outcomes among them, go (topic exchange).
    public var eventsExchange = "chronicle.events"
    /// Unacknowledged deliveries the broker may hand the processor at once; also the largest batch.
    public var prefetch = 500
    /// Running instances kept in memory; others are rebuilt from history when a message comes for them.
    public var cacheCapacity = 10_000
    /// Bodies longer than this are dead-lettered unread.
    public var maximumMessageBytes = 1 << 20
    /// Timers due within this are held in the processor's memory rather than sent through the transport's delayed
    /// delivery; when one is due its wake-up is published straight to ``queue``, and one cancelled first (a call
    /// answered before its timeout) is never published at all. They stay durable: each wake-up stays in the store's
    /// outbox until the wake-up comes back or the timer is cancelled, and ``Processor/recover()`` sends it after a
    /// restart. Zero (the default) sends every timer through the transport; `chronicle run` holds those due within
    /// a minute.
    public var localTimerHorizon: Duration = .zero

    public init() {}
}
