using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Data;

namespace MLNetSlim.Datasets;

/// <summary>
/// The on-disk multi-task layout shared by NYUD-v2 and PASCAL-Context in public multi-task code: an image folder, one
/// folder per task holding <c>&lt;id&gt;.&lt;ext&gt;</c> label files, and split lists of ids. Builds a lazily read
/// <see cref="IDataView"/>: the ids and image paths are listed (and every listed file checked for existence) when the view
/// is made; each label map is read, checked against its image's size, converted and resized only when a cursor reaches
/// its row.
/// </summary>
internal sealed class DenseSceneLayout
{
    /// <summary>How one task's labels are stored and converted.</summary>
    /// <param name="Definition">The task (kind, classes, ignore value).</param>
    /// <param name="Folders">Folders relative to the root tried in order for <c>&lt;id&gt;&lt;Extension&gt;</c>.</param>
    /// <param name="Extension">The file kind read: <c>.png</c> or <c>.npy</c>.</param>
    /// <param name="StoredChannels">Channels of the stored map (1, or 3 for normals).</param>
    /// <param name="Convert">Stored values (C, H, W) to label values in place; may throw <see cref="InvalidDataException"/>
    /// (message without the path, which the caller adds).</param>
    /// <param name="Alternatives">Other files (relative paths with <c>{id}</c>) that hold this task in layouts this loader
    /// does not read, for the error message (e.g. a <c>.mat</c>).</param>
    public sealed record TaskSpec(TaskDefinition Definition, string[] Folders, string Extension, int StoredChannels,
        Action<float[]> Convert, string[] Alternatives);

    public required string DataSetName { get; init; }

    public required string ImageFolder { get; init; }

    public required string ImageExtension { get; init; }

    public required string SplitFolder { get; init; }

    public required IReadOnlyList<TaskSpec> Tasks { get; init; }

    /// <summary>Name of the text column holding the image id.</summary>
    public const string NameColumn = "Name";

    /// <summary>Name of the text column holding the image's full path.</summary>
    public const string ImagePathColumn = "ImagePath";

    public IDataView Load(string root, string split, int height, int width, IEnumerable<string>? taskNames)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        ArgumentException.ThrowIfNullOrWhiteSpace(split);
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"The output size {height} x {width} (H x W) must be positive.");
        TaskSpec[] tasks = (taskNames ?? Tasks.Select(t => t.Definition.Name)).Select(n =>
            Tasks.FirstOrDefault(t => t.Definition.Name == n) ?? throw new ArgumentException(
                $"{DataSetName} has no task '{n}'; its tasks are {string.Join(", ", Tasks.Select(t => t.Definition.Name))}.", nameof(taskNames))).ToArray();
        if (!Directory.Exists(root))
            throw new DataUnavailableException($"{DataSetName} folder '{root}' does not exist; expected the multi-task layout ({ImageFolder}/, {SplitFolder}/, one folder per task; docs/data.md).");
        string listFile = Path.Combine(root, SplitFolder, split + ".txt");
        if (!File.Exists(listFile))
        {
            string[] present = Directory.Exists(Path.Combine(root, SplitFolder))
                ? Directory.GetFiles(Path.Combine(root, SplitFolder), "*.txt").Select(Path.GetFileNameWithoutExtension).OfType<string>().Order().ToArray()
                : [];
            throw new FileNotFoundException($"{DataSetName}: the split list '{listFile}' does not exist; expected one image id per line. " +
                (present.Length > 0 ? $"Split lists present: {string.Join(", ", present)}." : $"The folder '{Path.Combine(root, SplitFolder)}' holds none."), listFile);
        }
        string[] ids = File.ReadAllLines(listFile).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (ids.Length == 0) throw new InvalidDataException($"{DataSetName}: the split list '{listFile}' lists no image ids.");
        var images = new string[ids.Length];
        var labels = new string[tasks.Length][];
        for (int t = 0; t < tasks.Length; t++) labels[t] = new string[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            images[i] = Path.GetFullPath(Path.Combine(root, ImageFolder, ids[i] + ImageExtension));
            if (!File.Exists(images[i]))
                throw new FileNotFoundException($"{DataSetName}: image '{images[i]}' of id '{ids[i]}' (line {i + 1} of '{listFile}') does not exist; expected a {ImageExtension} file.", images[i]);
            for (int t = 0; t < tasks.Length; t++) labels[t][i] = LabelFile(root, tasks[t], ids[i], images[i]);
        }

        var builder = new DataViewSchema.Builder();
        builder.AddColumn(NameColumn, TextDataViewType.Instance);
        builder.AddColumn(ImagePathColumn, TextDataViewType.Instance);
        foreach (TaskSpec t in tasks)
            builder.AddColumn(t.Definition.Name, new VectorDataViewType(NumberDataViewType.Single, MultiTaskDataset.PixelLabelChannels(t.Definition), height, width));
        return new LazyDataView(builder.ToSchema(), ids.Length, () => new RowSource(this, tasks, ids, images, labels, height, width));
    }

    private string LabelFile(string root, TaskSpec task, string id, string image)
    {
        foreach (string folder in task.Folders)
        {
            string path = Path.GetFullPath(Path.Combine(root, folder, id + task.Extension));
            if (File.Exists(path)) return path;
        }
        // Not there: is it stored in a kind this loader does not read?
        var other = new List<string>();
        foreach (string folder in task.Folders)
        {
            string dir = Path.Combine(root, folder);
            if (Directory.Exists(dir)) other.AddRange(Directory.GetFiles(dir, id + ".*").Where(f => Path.GetFileNameWithoutExtension(f) == id));
        }
        other.AddRange(task.Alternatives.Select(a => Path.Combine(root, a.Replace("{id}", id, StringComparison.Ordinal))).Where(File.Exists));
        string expected = string.Join(" or ", task.Folders.Select(f => $"'{Path.GetFullPath(Path.Combine(root, f, id + task.Extension))}'"));
        if (other.Count > 0)
            throw new NotSupportedException($"{DataSetName} task '{task.Definition.Name}' of image '{image}': '{Path.GetFullPath(other[0])}' is a file kind this loader does not read; " +
                $"supported: {Describe(task)} at {expected} (docs/data.md says how to convert).");
        throw new FileNotFoundException($"{DataSetName}: image '{image}' has no label file for task '{task.Definition.Name}'; expected {expected} ({Describe(task)}).", expected);
    }

    private static string Describe(TaskSpec task) => task.Extension == ".npy"
        ? $".npy ({(task.StoredChannels == 3 ? "H x W x 3" : "H x W")}, C order, float32/float64/integer)"
        : $".png ({(task.StoredChannels == 3 ? "RGB, 8 or 16 bits" : "grayscale or palette 8-bit, or grayscale 16-bit")})";

    private sealed class RowSource(DenseSceneLayout layout, TaskSpec[] tasks, string[] ids, string[] images, string[][] labels, int height, int width)
        : LazyDataView.IRowSource
    {
        public object?[] Read(long row, bool[] active)
        {
            int i = (int)row;
            var values = new object?[2 + tasks.Length];
            values[0] = ids[i].AsMemory();
            values[1] = images[i].AsMemory();
            (int imageHeight, int imageWidth)? imageSize = null;
            for (int t = 0; t < tasks.Length; t++)
            {
                if (!active[2 + t]) continue;
                imageSize ??= ImageFileSize.Read(images[i]);
                float[] map = layout.ReadLabel(tasks[t], labels[t][i], images[i], imageSize.Value, height, width);
                values[2 + t] = new VBuffer<float>(map.Length, map);
            }
            return values;
        }

        public void Dispose() { }
    }

    private float[] ReadLabel(TaskSpec task, string path, string image, (int Height, int Width) imageSize, int height, int width)
    {
        float[] stored;
        int channels, h, w;
        if (task.Extension == ".npy")
        {
            Npy.Array a = Npy.Read(path);
            bool ok = task.StoredChannels == 1 ? a.Shape.Length == 2 || (a.Shape.Length == 3 && a.Shape[2] == 1) : a.Shape.Length == 3 && a.Shape[2] == 3;
            if (!ok)
                throw new InvalidDataException($"{DataSetName} task '{task.Definition.Name}': '{path}' has shape ({string.Join(", ", a.Shape)}); expected (H, W{(task.StoredChannels == 3 ? ", 3" : "")}).");
            (h, w, channels) = (a.Shape[0], a.Shape[1], task.StoredChannels);
            stored = channels == 1 ? a.Values : ToPlanar(a.Values, h, w, channels);
        }
        else
        {
            LabelMapPng.LabelMap m = LabelMapPng.Read(path);
            (h, w, channels) = (m.Height, m.Width, m.Channels);
            stored = m.Values;
            if (channels != task.StoredChannels)
            {
                if (task.StoredChannels == 1 && channels == 3) { stored = stored[..(h * w)]; channels = 1; } // e.g. an RGB saliency mask: its first channel
                else throw new InvalidDataException($"{DataSetName} task '{task.Definition.Name}': '{path}' has {channels} channel(s); expected {task.StoredChannels}.");
            }
        }
        if (h != imageSize.Height || w != imageSize.Width)
            throw new InvalidDataException($"{DataSetName} task '{task.Definition.Name}': label map '{path}' is {h} x {w} (H x W) but its image '{image}' is {imageSize.Height} x {imageSize.Width}; a label map must have its image's size.");
        try
        {
            task.Convert(stored);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{DataSetName} task '{task.Definition.Name}': label map '{path}': {e.Message}", e);
        }
        return Nearest(stored, channels, h, w, height, width);
    }

    private static float[] ToPlanar(float[] hwc, int h, int w, int c)
    {
        var chw = new float[hwc.Length];
        for (int p = 0; p < h * w; p++)
            for (int k = 0; k < c; k++) chw[k * h * w + p] = hwc[p * c + k];
        return chw;
    }

    /// <summary>Nearest-neighbour resize of a (C, H, W) map to (C, height, width) with half-pixel centres: output pixel
    /// (y, x) takes source pixel (floor((y + 0.5) H / height), floor((x + 0.5) W / width)). Class indices, ignore values
    /// and unit normals stay exactly what they were.</summary>
    internal static float[] Nearest(float[] map, int channels, int h, int w, int height, int width)
    {
        if (h == height && w == width) return map;
        var result = new float[channels * height * width];
        var sx = new int[width];
        for (int x = 0; x < width; x++) sx[x] = Math.Min(w - 1, (int)((x + 0.5) * w / width));
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height; y++)
            {
                int syRow = Math.Min(h - 1, (int)((y + 0.5) * h / height));
                for (int x = 0; x < width; x++) result[(c * height + y) * width + x] = map[(c * h + syRow) * w + sx[x]];
            }
        return result;
    }

    /// <summary>Checks that every value is a class in [0, classes) or <paramref name="ignore"/>.</summary>
    internal static void CheckClasses(float[] values, int classes, float ignore)
    {
        foreach (float v in values)
            if (v != ignore && !(v >= 0 && v < classes && v == MathF.Floor(v)))
                throw new InvalidDataException($"value {v.ToString(CultureInfo.InvariantCulture)} after conversion is neither a class in [0, {classes}) nor the ignore value {ignore.ToString(CultureInfo.InvariantCulture)}.");
    }
}
