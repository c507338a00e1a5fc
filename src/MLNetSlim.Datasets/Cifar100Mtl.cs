using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Data;

namespace MLNetSlim.Datasets;

/// <summary>
/// CIFAR100-MTL: CIFAR-100 as 20 classification tasks, one per superclass (coarse label), each a 5-way choice among that
/// superclass's fine classes. A fine class's index within its task is its position among the superclass's fine ids in
/// ascending order (aquatic mammals = fine ids 4, 30, 55, 72, 95 = beaver, dolphin, otter, seal, whale -> 0..4; not
/// <c>fine % 5</c>, which maps 30, 55 and 95 all to 0). Every image labels exactly one task, its superclass; its labels of
/// the other 19 tasks are missing (<see cref="MultiTaskDataset.MissingLabel"/> in a <see cref="MultiTaskDataset"/>, key
/// value 0 in the <see cref="LoadDataView"/> columns), which the losses and metrics ignore (docs/data.md).
/// <para>Files: the CIFAR-100 binary version (<c>cifar-100-binary.tar.gz</c> from
/// https://www.cs.toronto.edu/~kriz/cifar.html): <c>train.bin</c> (50,000 records) and <c>test.bin</c> (10,000), each
/// record 3,074 bytes: the coarse label byte (0..19), the fine label byte (0..99), then 3,072 pixel bytes, the 1,024 red
/// values, then green, then blue, each plane row-major 32 x 32, which is (C, H, W) order. The optional
/// <c>coarse_label_names.txt</c> and <c>fine_label_names.txt</c> beside them (one name per line) are checked against the
/// standard taxonomy of <see cref="CoarseClassNames"/> and <see cref="FineClassNames"/>.</para>
/// </summary>
public static class Cifar100Mtl
{
    /// <summary>Bytes per record: coarse label, fine label, 3,072 pixels.</summary>
    public const int RecordSize = 2 + ImageSize;

    /// <summary>Floats (and bytes) per image: 3 x 32 x 32.</summary>
    public const int ImageSize = 3 * 32 * 32;

    /// <summary>Folder of CIFAR-100 inside the data root (<see cref="DataLocator.DefaultRoot"/>): the folder of the
    /// extracted binary tarball.</summary>
    public const string Folder = "cifar-100-binary";

    /// <summary>Name of the image column of <see cref="LoadDataView"/>: Vector&lt;Single, 3072&gt;, (C, H, W) in [0, 1].</summary>
    public const string FeaturesColumn = "Features";

    /// <summary>Name of the fine-label column of <see cref="LoadDataView"/>: a key of 100 values (the fine class names).</summary>
    public const string FineLabelColumn = "FineLabel";

    /// <summary>Name of the coarse-label column of <see cref="LoadDataView"/>: a key of 20 values (the superclass names).</summary>
    public const string CoarseLabelColumn = "CoarseLabel";

    /// <summary>The 100 fine class names of CIFAR-100 in label order (the <c>fine_label_names</c> of the data set's
    /// meta file: alphabetical).</summary>
    public static IReadOnlyList<string> FineClassNames { get; } =
    [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ];

    /// <summary>The 20 superclass names in coarse-label order (<c>coarse_label_names</c>); also the task names.</summary>
    public static IReadOnlyList<string> CoarseClassNames { get; } =
    [
        "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
        "household_electrical_devices", "household_furniture", "insects", "large_carnivores", "large_man-made_outdoor_things",
        "large_natural_outdoor_scenes", "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
        "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
    ];

    /// <summary>Superclass (coarse label) of each fine label: index = fine label. The standard CIFAR-100 taxonomy.</summary>
    public static IReadOnlyList<int> SuperclassOfFine { get; } =
    [
        4, 1, 14, 8, 0, 6, 7, 7, 18, 3,
        3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
        6, 11, 5, 10, 7, 6, 13, 15, 3, 15,
        0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
        5, 19, 8, 8, 15, 13, 14, 17, 18, 10,
        16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
        10, 3, 2, 12, 12, 16, 12, 1, 9, 19,
        2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
        16, 19, 2, 4, 6, 19, 5, 5, 8, 19,
        18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
    ];

    /// <summary>Each superclass's 5 fine labels in ascending order: [coarse][index within the task] = fine label.</summary>
    public static IReadOnlyList<IReadOnlyList<int>> FineLabelsOfSuperclass { get; } =
        Enumerable.Range(0, 20).Select(c => (IReadOnlyList<int>)Enumerable.Range(0, 100).Where(f => SuperclassOfFine[f] == c).ToArray()).ToArray();

    /// <summary>The 20 tasks in coarse-label order: task c is named <c>CoarseClassNames[c]</c>, with 5 classes named by its
    /// fine classes in ascending fine-label order.</summary>
    public static IReadOnlyList<TaskDefinition> Tasks { get; } =
        Enumerable.Range(0, 20).Select(c => new TaskDefinition(CoarseClassNames[c], TaskKind.Classification, 5,
            FineLabelsOfSuperclass[c].Select(f => FineClassNames[f]).ToArray())).ToArray();

    /// <summary>The index (0..4) of fine label <paramref name="fine"/> within its superclass's task.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not in [0, 100).</exception>
    public static int TaskClassOf(int fine)
    {
        if (fine is < 0 or >= 100) throw new ArgumentOutOfRangeException(nameof(fine), fine, "A CIFAR-100 fine label is in [0, 100).");
        int index = 0;
        foreach (int f in FineLabelsOfSuperclass[SuperclassOfFine[fine]])
        {
            if (f == fine) return index;
            index++;
        }
        throw new InvalidOperationException("unreachable: every fine label is in its superclass's list");
    }

    /// <summary>The file of a split: <c>train.bin</c> or <c>test.bin</c>.</summary>
    public static string FileName(DataSplit split) => split == DataSplit.Train ? "train.bin" : "test.bin";

    /// <summary>Loads a split into memory: images (3, 32, 32) as float32 byte / 255, in file order, and the 20 tasks'
    /// labels (the image's superclass task labelled, the other 19 missing).</summary>
    /// <param name="split">Train (<c>train.bin</c>) or test (<c>test.bin</c>).</param>
    /// <param name="path">A folder holding the file, or the data root holding <see cref="Folder"/>; null: the default
    /// data root (<see cref="DataLocator.DefaultRoot"/>).</param>
    /// <param name="count">At most this many images (the first ones); all when null.</param>
    /// <exception cref="DataUnavailableException">The file is not there (names where it looked).</exception>
    /// <exception cref="InvalidDataException">A malformed file or label names file (names the file, the record and the
    /// byte values).</exception>
    public static MultiTaskDataset Load(DataSplit split = DataSplit.Train, string? path = null, int? count = null)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "The count cannot be negative.");
        string file = Locate(split, path, out long records);
        int n = (int)Math.Min(count ?? records, records);
        var images = new float[(long)n * ImageSize];
        int[][] labels = Enumerable.Range(0, 20).Select(_ => Enumerable.Repeat(MultiTaskDataset.MissingLabel, n).ToArray()).ToArray();
        using var reader = new RecordReader(file);
        for (int i = 0; i < n; i++)
        {
            byte[] record = reader.Read(i);
            for (int j = 0; j < ImageSize; j++) images[(long)i * ImageSize + j] = record[2 + j] / 255f;
            labels[record[0]][i] = TaskClassOf(record[1]);
        }
        return new MultiTaskDataset(images, 3, 32, 32, Tasks, labels);
    }

    /// <summary>
    /// A split as a lazily read ML.NET <see cref="IDataView"/> (each cursor reads the file record by record; nothing is
    /// materialised). Columns: <see cref="FeaturesColumn"/> (Vector&lt;Single, 3072&gt;, (C, H, W), byte / 255),
    /// <see cref="FineLabelColumn"/> (key, 100 values), <see cref="CoarseLabelColumn"/> (key, 20 values), and one key
    /// column per task named as the task (<see cref="CoarseClassNames"/>; key of 5 values with the fine class names as
    /// KeyValues): the image's own superclass column holds its class + 1, the other 19 hold 0 (ML.NET's missing key),
    /// which the estimator reads as a missing label. Use with
    /// <c>Tasks = Cifar100Mtl.Tasks.Select(t =&gt; new ControllableMultiTaskEstimator.TaskColumn(t.Name))</c>, ImageChannels 3,
    /// ImageHeight and ImageWidth 32.
    /// </summary>
    /// <param name="split">Train or test.</param>
    /// <param name="path">As in <see cref="Load"/>.</param>
    /// <param name="count">At most this many rows (the first ones); all when null.</param>
    /// <exception cref="DataUnavailableException">The file is not there.</exception>
    /// <exception cref="InvalidDataException">A malformed file (found here for its size and names files, while cursoring
    /// for its label bytes).</exception>
    public static IDataView LoadDataView(DataSplit split = DataSplit.Train, string? path = null, int? count = null)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "The count cannot be negative.");
        string file = Locate(split, path, out long records);
        long n = Math.Min(count ?? records, records);
        var builder = new DataViewSchema.Builder();
        builder.AddColumn(FeaturesColumn, new VectorDataViewType(NumberDataViewType.Single, 3, 32, 32));
        LazyDataView.AddKeyColumn(builder, FineLabelColumn, FineClassNames);
        LazyDataView.AddKeyColumn(builder, CoarseLabelColumn, CoarseClassNames);
        foreach (TaskDefinition task in Tasks) LazyDataView.AddKeyColumn(builder, task.Name, task.ClassNames);
        return new LazyDataView(builder.ToSchema(), n, () => new RowSource(file));
    }

    private sealed class RowSource(string file) : LazyDataView.IRowSource
    {
        private readonly RecordReader _reader = new(file);

        public object?[] Read(long row, bool[] active)
        {
            byte[] record = _reader.Read(row);
            var values = new object?[3 + 20];
            if (active[0])
            {
                var pixels = new float[ImageSize];
                for (int j = 0; j < ImageSize; j++) pixels[j] = record[2 + j] / 255f;
                values[0] = new VBuffer<float>(ImageSize, pixels);
            }
            values[1] = (uint)record[1] + 1;
            values[2] = (uint)record[0] + 1;
            for (int c = 0; c < 20; c++) values[3 + c] = c == record[0] ? (uint)TaskClassOf(record[1]) + 1 : 0u;
            return values;
        }

        public void Dispose() => _reader.Dispose();
    }

    /// <summary>Reads and checks records by index (sequential reads need no seek).</summary>
    private sealed class RecordReader : IDisposable
    {
        private readonly string _file;
        private readonly FileStream _stream;
        private readonly byte[] _record = new byte[RecordSize];

        public RecordReader(string file)
        {
            _file = file;
            _stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }

        public byte[] Read(long index)
        {
            long offset = index * RecordSize;
            if (_stream.Position != offset) _stream.Position = offset;
            _stream.ReadExactly(_record);
            int coarse = _record[0], fine = _record[1];
            if (fine >= 100 || coarse >= 20)
                throw new InvalidDataException($"CIFAR-100 file '{_file}', record {index} (0-based): coarse label {coarse} and fine label {fine}; expected a coarse label in [0, 20) and a fine label in [0, 100).");
            if (SuperclassOfFine[fine] != coarse)
                throw new InvalidDataException($"CIFAR-100 file '{_file}', record {index} (0-based): fine label {fine} ({FineClassNames[fine]}) belongs to superclass {SuperclassOfFine[fine]} ({CoarseClassNames[SuperclassOfFine[fine]]}) in the CIFAR-100 taxonomy, but the record's coarse label is {coarse} ({CoarseClassNames[coarse]}); is this a CIFAR-100 binary file?");
            return _record;
        }

        public void Dispose() => _stream.Dispose();
    }

    private static string Locate(DataSplit split, string? path, out long records)
    {
        string name = FileName(split);
        string[] candidates = path is null
            ? [Path.Combine(DataLocator.DefaultRoot, Folder)]
            : [path, Path.Combine(path, Folder)];
        string? folder = candidates.FirstOrDefault(c => File.Exists(Path.Combine(c, name)));
        if (folder is null)
            throw new DataUnavailableException(
                $"CIFAR-100 file '{name}' not found; looked in {string.Join(", ", candidates.Select(c => $"'{c}'"))}. " +
                "Download the binary version (cifar-100-binary.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html and extract it there " +
                $"(it holds train.bin, test.bin, coarse_label_names.txt and fine_label_names.txt), or pass its folder.");
        string file = Path.Combine(folder, name);
        long length = new FileInfo(file).Length;
        if (length == 0 || length % RecordSize != 0)
            throw new InvalidDataException($"CIFAR-100 file '{file}' has {length.ToString(CultureInfo.InvariantCulture)} bytes; expected a positive multiple of {RecordSize} (records of a coarse byte, a fine byte and 3,072 pixel bytes).");
        records = length / RecordSize;
        CheckNames(Path.Combine(folder, "fine_label_names.txt"), FineClassNames);
        CheckNames(Path.Combine(folder, "coarse_label_names.txt"), CoarseClassNames);
        return file;
    }

    private static void CheckNames(string file, IReadOnlyList<string> expected)
    {
        if (!File.Exists(file)) return;
        string[] names = File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length != expected.Count)
            throw new InvalidDataException($"CIFAR-100 label names file '{file}' has {names.Length} names; expected {expected.Count}.");
        for (int i = 0; i < names.Length; i++)
            if (names[i] != expected[i])
                throw new InvalidDataException($"CIFAR-100 label names file '{file}', line {i + 1}: '{names[i]}'; the standard CIFAR-100 name of label {i} is '{expected[i]}'.");
    }
}
