import Foundation

/// How a call is retried: Temporal's `RetryPolicy`, with its fields, defaults and meaning.
///
/// The wait before attempt *n + 1* is `initialInterval × backoffCoefficient^(n − 1)`, capped at
/// `maximumInterval`. Each wait is a durable timer: the instance may be unloaded while it waits.
public struct RetryPolicy: Hashable, Codable, Sendable {
    /// The wait before the first retry. Default: 1 second.
    public var initialInterval: Duration
    /// How much each wait grows over the one before. Default: 2.
    public var backoffCoefficient: Double
    /// The longest wait. Default (`nil`): 100 × `initialInterval`.
    public var maximumInterval: Duration?
    /// How many attempts in all, the first included; `0` means no limit. Default: 0.
    public var maximumAttempts: Int
    /// Failure types (``Failure/type``) that end the call at once, without a retry.
    public var nonRetryableErrors: [String]

    public init(
        initialInterval: Duration = .seconds(1),
        backoffCoefficient: Double = 2,
        maximumInterval: Duration? = nil,
        maximumAttempts: Int = 0,
        nonRetryableErrors: [String] = []
    ) {
        precondition(initialInterval > .zero, "RetryPolicy.initialInterval must be positive")
        precondition(backoffCoefficient >= 1, "RetryPolicy.backoffCoefficient must be at least 1")
        precondition(maximumAttempts >= 0, "RetryPolicy.maximumAttempts must be 0 (no limit) or more")
        self.initialInterval = initialInterval
        self.backoffCoefficient = backoffCoefficient
        self.maximumInterval = maximumInterval
        self.maximumAttempts = maximumAttempts
        self.nonRetryableErrors = nonRetryableErrors
    }

    /// Temporal's default: unlimited attempts, 1 s doubling up to 100 s.
    public static let `default` = RetryPolicy()

    /// One attempt, no retry.
    public static let none = RetryPolicy(maximumAttempts: 1)

    /// The wait after failed attempt `attempt` (1-based), before the next.
    public func delay(afterAttempt attempt: Int) -> Duration {
        let cap = maximumInterval ?? initialInterval * 100
        let factor = Foundation.pow(backoffCoefficient, Double(max(attempt - 1, 0)))
        let seconds = initialInterval.seconds * factor
        return seconds >= cap.seconds ? cap : .seconds(seconds)
    }

    /// Whether another attempt may follow failed attempt `attempt` that failed with `failure`.
    public func allowsRetry(after attempt: Int, failure: Failure?) -> Bool {
        if let failure, nonRetryableErrors.contains(failure.type) { return false }
        return maximumAttempts == 0 || attempt < maximumAttempts
    }
}

/// Options of one `context.call`.
public struct CallOptions: Hashable, Sendable {
    public var retryPolicy: RetryPolicy
    /// How long one attempt may wait for its reply, from sending to reply; a reply that does not come in
    /// time is a failed attempt (``Failure/timeoutType``), retried per ``retryPolicy``. This is Temporal's
    /// `startToCloseTimeout`. `nil`: wait for ever. Default: 60 seconds.
    public var startToCloseTimeout: Duration?

    public init(retryPolicy: RetryPolicy = .default, startToCloseTimeout: Duration? = .seconds(60)) {
        self.retryPolicy = retryPolicy
        self.startToCloseTimeout = startToCloseTimeout
    }
}

extension Failure {
    /// The failure type of an attempt that got no reply in time.
    public static let timeoutType = "Timeout"
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}
