namespace MLNetSlim.Network.Decoders;

/// <summary>
/// One encoder stage output in an inference graph being built (see <see cref="Nn.IInferenceGraphBuilder"/>): the graph
/// value's name and its active shape (C', H, W) for one image. Decoders read the last (the encoder output); per-pixel
/// heads such as <see cref="FpnLiteHead"/> also read earlier ones as skip connections.
/// </summary>
/// <param name="Value">The graph value holding the stage output, (N, C', H, W).</param>
/// <param name="Channels">Active channels C'.</param>
/// <param name="Height">Height H, pixels.</param>
/// <param name="Width">Width W, pixels.</param>
public readonly record struct EncoderFeature(string Value, int Channels, int Height, int Width);
