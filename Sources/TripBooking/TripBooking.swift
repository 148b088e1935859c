// TripBooking (in progress).
