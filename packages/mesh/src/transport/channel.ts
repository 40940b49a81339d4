// ByteChannel: the smallest thing a Link needs from a transport: an ordered, reliable message pipe with a
// send buffer it can watch (a WebRTC data channel, an in-memory pair, a shaped wrapper). No framing, no
// protocol, no heartbeats; those live in Link.

export interface ByteChannelEvents {
  message(bytes: Uint8Array): void;
  /** The channel closed (remote closed, connection failed). `reason` is for logs. */
  close(reason?: string): void;
  /** The send buffer fell to the low-water mark (`bufferedamountlow`). */
  drain(): void;
}

export interface ByteChannel {
  /** Largest message `send` accepts. */
  readonly maxMessageBytes: number;
  /** Bytes queued for sending and not yet handed to the network. */
  bufferedAmount(): number;
  /** Registers the one listener (a Link). Messages that arrive before this are buffered. */
  listen(events: ByteChannelEvents): void;
  /** Throws if the channel is closed or the message is too large. */
  send(bytes: Uint8Array): void;
  /** Idempotent. The remote side sees `close`. */
  close(): void;
}
