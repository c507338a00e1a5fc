using Microsoft.ML;
using MLNetSlim.Architecture;

namespace MLNetSlim.Datasets;

/// <summary>
/// NYUD-v2 in the multi-task layout of public multi-task code (the <c>NYUD_MT</c> folder of Vandenhende et al.'s
/// Multi-Task-Learning-PyTorch, also used by MTI-Net and its successors): 795 train and 654 val images, tasks
/// semantic segmentation (40 classes), depth, surface normals and edges. Files read (docs/data.md):
/// <list type="bullet">
/// <item><c>gt_sets/&lt;split&gt;.txt</c>: one image id per line (splits <c>train</c>, <c>val</c>);</item>
/// <item><c>images/&lt;id&gt;.jpg</c>: the RGB image (the column <c>ImagePath</c>; load it with ML.NET's LoadImages);</item>
/// <item><c>segmentation/&lt;id&gt;.png</c> (8-bit): 0 = unlabelled -> 255 (ignored), class c in 1..40 -> c - 1;</item>
/// <item><c>depth/&lt;id&gt;.npy</c> (H x W float): metres; 0 (no measurement) is ignored;</item>
/// <item><c>normals/&lt;id&gt;.npy</c> (H x W x 3 float): unit vectors (x, y, z) in [-1, 1]; an all-zero vector is ignored;</item>
/// <item><c>edge/&lt;id&gt;.npy</c> (H x W float): 1 on an edge, 0 elsewhere.</item>
/// </list>
/// </summary>
public static class NyudV2
{
    private static DenseSceneLayout Layout { get; } = new()
    {
        DataSetName = "NYUD-v2",
        ImageFolder = "images",
        ImageExtension = ".jpg",
        SplitFolder = "gt_sets",
        Tasks =
        [
            new(new TaskDefinition("semseg", TaskKind.Segmentation, 40) { IgnoreValue = 255 }, ["segmentation"], ".png", 1, v =>
            {
                for (int i = 0; i < v.Length; i++) v[i] = v[i] == 0 ? 255 : v[i] - 1;
                DenseSceneLayout.CheckClasses(v, 40, 255);
            }, []),
            new(TaskDefinition.PerPixel("depth", TaskKind.Depth, ignoreValue: 0), ["depth"], ".npy", 1, _ => { }, ["depth/{id}.png", "depth/{id}.mat"]),
            new(TaskDefinition.PerPixel("normals", TaskKind.Normals), ["normals"], ".npy", 3, _ => { }, ["normals/{id}.png", "normals/{id}.mat"]),
            new(TaskDefinition.PerPixel("edge", TaskKind.Edges), ["edge"], ".npy", 1, _ => { }, ["edge/{id}.png", "edge/{id}.mat"]),
        ],
    };

    /// <summary>The tasks in column order: <c>semseg</c> (segmentation, 40 classes, ignore 255), <c>depth</c> (metres,
    /// ignore 0), <c>normals</c>, <c>edge</c>.</summary>
    public static IReadOnlyList<TaskDefinition> Tasks { get; } = Layout.Tasks.Select(t => t.Definition).ToArray();

    /// <summary>The text column with the image id (<c>Name</c>).</summary>
    public const string NameColumn = DenseSceneLayout.NameColumn;

    /// <summary>The text column with the image's full path (<c>ImagePath</c>).</summary>
    public const string ImagePathColumn = DenseSceneLayout.ImagePathColumn;

    /// <summary>
    /// A split as a lazily read <see cref="IDataView"/>: <c>Name</c> and <c>ImagePath</c> (text), then one
    /// Vector&lt;Single&gt; label column per task named as the task, in (C, H, W) order at the output size
    /// <paramref name="height"/> x <paramref name="width"/> (C = 3 for normals, else 1): each label map is resized by
    /// nearest neighbour (so class indices, the ignore values and unit normals survive exactly); resize the images to the
    /// same size with ML.NET's <c>ResizeImages(..., resizing: ResizingKind.Fill)</c>. Files are read only while
    /// cursoring; the listed files' existence is checked here.
    /// </summary>
    /// <param name="root">The <c>NYUD_MT</c> folder.</param>
    /// <param name="split">A split list in <c>gt_sets/</c>: <c>train</c> or <c>val</c>.</param>
    /// <param name="height">Output H of the label maps (the original images are 480).</param>
    /// <param name="width">Output W (the original images are 640).</param>
    /// <param name="tasks">The tasks to load (their files must exist); all four when null.</param>
    /// <exception cref="DataUnavailableException">The root folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The split list, a listed image or one of its label files is missing
    /// (the message names the path and what was expected).</exception>
    /// <exception cref="NotSupportedException">A label is stored in a kind this loader does not read (e.g. <c>.mat</c>);
    /// names the file and the supported kind.</exception>
    /// <exception cref="ArgumentException">An unknown task name, or a non-positive size.</exception>
    /// <remarks>While cursoring: <see cref="InvalidDataException"/> for a label map whose size differs from its image's,
    /// a value outside its task's classes, or an unreadable file (each naming the file).</remarks>
    public static IDataView LoadDataView(string root, string split = "train", int height = 480, int width = 640, IEnumerable<string>? tasks = null) =>
        Layout.Load(root, split, height, width, tasks);
}
