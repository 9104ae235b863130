"""RFC 3550 RTP/RTCP and RFC 4733 telephone-events, sans-I/O."""
