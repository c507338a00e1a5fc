namespace MLNetSlim.Datasets;

/// <summary>Gray-scale images as unsigned bytes with one class label each, as stored in MNIST-style data sets.</summary>
public sealed class LabeledImages
{
    /// <summary>Creates a labelled image set.</summary>
    /// <param name="pixels">Count*Height*Width bytes, image after image, each row-major.</param>
    /// <param name="count">Number of images N.</param>
    /// <param name="height">Rows per image.</param>
    /// <param name="width">Columns per image.</param>
    /// <param name="labels">One class index per image.</param>
    /// <param name="classNames">Class names; every label must be below their count.</param>
    /// <exception cref="ArgumentException">Sizes disagree or a label is out of range.</exception>
    public LabeledImages(byte[] pixels, int count, int height, int width, byte[] labels, IReadOnlyList<string> classNames)
    {
        if (count < 0 || height <= 0 || width <= 0)
            throw new ArgumentException($"Shape (N, H, W) = ({count}, {height}, {width}) is invalid.");
        if (pixels.LongLength != (long)count * height * width)
            throw new ArgumentException($"{pixels.LongLength} pixels for {count} images of {height}x{width}.", nameof(pixels));
        if (labels.Length != count)
            throw new ArgumentException($"{labels.Length} labels for {count} images.", nameof(labels));
        foreach (byte y in labels)
            if (y >= classNames.Count)
                throw new ArgumentException($"Label {y} is outside [0, {classNames.Count}).", nameof(labels));
        Pixels = pixels;
        Count = count;
        Height = height;
        Width = width;
        Labels = labels;
        ClassNames = classNames.ToArray();
    }

    /// <summary>Pixels, N*H*W bytes (0 = background), image after image, each row-major.</summary>
    public byte[] Pixels { get; }

    /// <summary>Number of images N.</summary>
    public int Count { get; }

    /// <summary>Rows per image H.</summary>
    public int Height { get; }

    /// <summary>Columns per image W.</summary>
    public int Width { get; }

    /// <summary>Pixels per image, H*W.</summary>
    public int ImageSize => Height * Width;

    /// <summary>Class index of each image.</summary>
    public byte[] Labels { get; }

    /// <summary>Class names, indexed by label.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>The pixels of image <paramref name="index"/>, H*W bytes, row-major.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The index is not in [0, N).</exception>
    public ReadOnlySpan<byte> Image(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return Pixels.AsSpan(index * ImageSize, ImageSize);
    }
}
