/// A request to another service, sent as a message; the service answers with a reply message.
///
/// `context.call(_:options:)` sends it on the commands exchange with ``routingKey`` and ``name`` as the
/// message type, and waits for the reply. The service replies on the events exchange with a body holding the
/// command's message id as `commandId`: a message of type ``replyType`` whose body decodes as ``Reply`` on
/// success, or of type ``failureType`` with an `error` object (`type`, `message`) on failure.
public protocol Command: Codable, Sendable {
    associatedtype Reply: Codable & Sendable

    /// The message type, e.g. `ReserveHotel`.
    static var name: String { get }
    /// The routing key on the commands exchange, e.g. `hotel.reserve`.
    static var routingKey: String { get }
    /// The message type of a successful reply, e.g. `HotelReserved`.
    static var replyType: String { get }
    /// The message type of a failure reply, e.g. `HotelReservationFailed`; `nil` when the service never
    /// refuses this command (a cancellation, say) and only a timeout can fail an attempt.
    static var failureType: String? { get }
}

extension Command {
    public static var failureType: String? { nil }
}
