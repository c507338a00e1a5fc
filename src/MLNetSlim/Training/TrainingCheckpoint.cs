using System.Globalization;
using System.Text;
using MLNetSlim.Data;
using MLNetSlim.Model;
using MLNetSlim.Network;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetSlim.Training;

/// <summary>
/// A training checkpoint (<see cref="TrainingOptions.CheckpointPath"/>): everything a resumed run needs to end with the
/// same weights as an uninterrupted one under the same seed: the steps done, the network's weights and batch-norm
/// statistics, the optimiser state (momentum / Adam moments), Torch's random generator, and a key of the run's
/// settings. The seeded .NET generators (data order, sandwich sampler) and the learning-rate schedule are replayed up to
/// the saved step instead of being stored. Written crash-safely (temporary file, fsync, atomic rename) with magic
/// <c>MLNSCKPT</c>, format version 1 and one integrity frame (length + SHA-256), so a damaged checkpoint throws
/// <see cref="InvalidModelFileException"/> instead of resuming from garbage.
/// </summary>
internal sealed class TrainingCheckpoint
{
    public const int FormatVersion = 1;
    private static readonly byte[] Magic = "MLNSCKPT"u8.ToArray();

    private TrainingCheckpoint(string runKey, int step, byte[] payload, long stateOffset)
    {
        RunKey = runKey;
        Step = step;
        _payload = payload;
        _stateOffset = stateOffset;
    }

    private readonly byte[] _payload;
    private readonly long _stateOffset;

    /// <summary>The settings of the run that wrote it.</summary>
    public string RunKey { get; }

    /// <summary>Optimiser steps done when it was written.</summary>
    public int Step { get; }

    /// <summary>The settings a resumed run must share with the interrupted one.</summary>
    public static string KeyOf(MultiTaskNetwork network, IMultiTaskBatches train, TrainingOptions o) => string.Join("|",
        $"images={train.Count}", $"tasks={string.Join(",", network.Tasks.Select(t => $"{t.Name}:{t.NumClasses}"))}",
        $"batch={o.BatchSize}", $"epochs={o.Epochs}", $"seed={o.Seed}", $"lr={o.LearningRate.ToString("R", CultureInfo.InvariantCulture)}",
        $"optimizer={o.Optimizer}", $"schedule={o.Schedule}", $"momentum={o.Momentum.ToString("R", CultureInfo.InvariantCulture)}",
        $"decay={o.WeightDecay.ToString("R", CultureInfo.InvariantCulture)}", $"k={o.SandwichRandomCount}",
        $"kd={o.DistillationWeight.ToString("R", CultureInfo.InvariantCulture)}", $"fixed={o.FixedConfiguration}")
        + (o.SandwichMiddleEncoders ? "|middle-encoders" : "") // only when set, so keys of existing checkpoints do not change
        + (o.InplaceDistillationWeight > 0 ? $"|inplace={o.InplaceDistillationWeight.ToString("R", CultureInfo.InvariantCulture)}" : "")
        + (o.SandwichSharedEncoder ? "|shared-encoder" : "")
        + (o.SandwichFinalEpochExtraCount > 0 ? $"|final-epoch-extra={o.SandwichFinalEpochExtraCount}" : "");

    /// <summary>Writes a checkpoint crash-safely.</summary>
    public static void Save(string path, string runKey, int step, MultiTaskNetwork network, torch.optim.Optimizer optimizer) =>
        AtomicFile.Write(path, stream =>
        {
            stream.Write(Magic);
            stream.Write(BitConverter.GetBytes(FormatVersion));
            Checksummed.Write(stream, payload =>
            {
                using var w = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true);
                w.Write(runKey);
                w.Write(step);
                using (Tensor rng = torch.get_rng_state())
                {
                    byte[] state = rng.data<byte>().ToArray();
                    w.Write(state.Length);
                    w.Write(state);
                }
                using (var weights = new MemoryStream())
                {
                    using (var ww = new BinaryWriter(weights, Encoding.UTF8, leaveOpen: true)) network.save(ww);
                    w.Write(weights.Length);
                    w.Write(weights.GetBuffer(), 0, (int)weights.Length);
                }
                ((TorchSharp.Modules.OptimizerHelper)optimizer).save_state_dict(w);
                w.Flush();
            });
        });

    /// <summary>Reads and verifies a checkpoint (header and checksum; the state is applied by <see cref="RestoreNetwork"/>
    /// and <see cref="RestoreOptimizer"/>).</summary>
    /// <exception cref="InvalidModelFileException">Damaged, truncated, foreign, or a newer format.</exception>
    public static TrainingCheckpoint Load(string path)
    {
        try
        {
            using FileStream f = File.OpenRead(path);
            var head = new byte[12];
            int got = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            if (got < 8 || !head.AsSpan(0, 8).SequenceEqual(Magic))
                throw new InvalidModelFileException(null, null, "not an MLNetSlim training checkpoint: it does not start with 'MLNSCKPT'.");
            if (got < 12) throw new InvalidModelFileException(null, null, "the checkpoint is truncated inside its format version.");
            int version = BitConverter.ToInt32(head, 8);
            if (version != FormatVersion)
                throw new InvalidModelFileException(null, null, $"checkpoint format version {version} is not the one this library reads ({FormatVersion}).");
            byte[] payload = Checksummed.Read(f, "checkpoint");
            using var r = new BinaryReader(new MemoryStream(payload), Encoding.UTF8);
            string key = r.ReadString();
            int step = r.ReadInt32();
            return new TrainingCheckpoint(key, step, payload, r.BaseStream.Position);
        }
        catch (InvalidModelFileException e)
        {
            throw e.WithFile(path);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException and not FileNotFoundException)
        {
            throw new InvalidModelFileException(path, "checkpoint", $"the checkpoint cannot be read ({e.GetType().Name}).", e);
        }
    }

    /// <summary>Puts the saved weights and batch-norm statistics into <paramref name="network"/> (before an optimiser
    /// is made over its parameters).</summary>
    public void RestoreNetwork(MultiTaskNetwork network)
    {
        using BinaryReader r = StateReader();
        _ = r.ReadBytes(r.ReadInt32());
        long length = r.ReadInt64();
        using var weights = new BinaryReader(new MemoryStream(_payload, (int)r.BaseStream.Position, (int)length), Encoding.UTF8);
        network.load(weights);
    }

    /// <summary>Puts the saved optimiser state into <paramref name="optimizer"/> and the saved state into Torch's random
    /// generator.</summary>
    public void RestoreOptimizer(torch.optim.Optimizer optimizer)
    {
        using BinaryReader r = StateReader();
        byte[] rng = r.ReadBytes(r.ReadInt32());
        using (Tensor state = torch.tensor(rng, dtype: ScalarType.Byte)) torch.set_rng_state(state);
        long weightBytes = r.ReadInt64();
        r.BaseStream.Position += weightBytes; // the weights, already in the network
        ((TorchSharp.Modules.OptimizerHelper)optimizer).load_state_dict(r);
    }

    private BinaryReader StateReader() =>
        new(new MemoryStream(_payload) { Position = _stateOffset }, Encoding.UTF8);
}
