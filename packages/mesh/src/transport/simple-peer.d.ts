// The part of @thaunknown/simple-peer 10 that peer-channel.ts uses (the package ships no types).
// `_channel` is the underlying RTCDataChannel (or node-datachannel's polyfill of it); we read its
// bufferedAmount and listen for `bufferedamountlow` on it for backpressure.

declare module "@thaunknown/simple-peer" {
  export interface SimplePeerOptions {
    initiator?: boolean;
    /** Passed to RTCPeerConnection (node-datachannel reads extra keys such as bindAddress). */
    config?: Record<string, unknown>;
    channelConfig?: Record<string, unknown>;
    trickle?: boolean;
    sdpTransform?: (sdp: string) => string;
  }

  export interface DataChannelLike extends EventTarget {
    readonly bufferedAmount: number;
    bufferedAmountLowThreshold: number;
    readonly maxMessageSize?: number;
  }

  export default class SimplePeer {
    constructor(opts?: SimplePeerOptions);
    static readonly WEBRTC_SUPPORT: boolean;
    readonly connected: boolean;
    readonly destroyed: boolean;
    readonly bufferSize: number;
    readonly _channel: DataChannelLike | null;
    signal(data: unknown): void;
    send(data: Uint8Array): void;
    destroy(err?: Error): void;
    on(event: "signal", listener: (data: unknown) => void): this;
    on(event: "connect" | "close", listener: () => void): this;
    on(event: "data", listener: (data: Uint8Array | string) => void): this;
    on(event: "error", listener: (err: Error & { code?: string }) => void): this;
  }
}
