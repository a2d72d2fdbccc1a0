"""Sites, locations, gateways, the meter model catalogue, meters and metering points."""
