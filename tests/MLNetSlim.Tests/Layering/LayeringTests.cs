using System.Text.RegularExpressions;

namespace MLNetSlim.Tests.Layering;

/// <summary>
/// The folder layering of the core documented in docs/architecture.md: a folder may reference only folders below it,
/// and Architecture and Control are TorchSharp-free. The two bottom-most product layers above Runtime (Architecture,
/// Control) live in their own assembly, MLNetSlim.Control, which references no package at all; the rest in MLNetSlim.
/// Reads the sources (no reflection, no package), and checks the built MLNetSlim.Control assembly's references.
/// </summary>
[TestClass]
public sealed partial class LayeringTests
{
    /// <summary>Bottom to top; the same list as docs/architecture.md.</summary>
    public static readonly string[] Order =
        ["Runtime", "Architecture", "Control", "Nn", "Network", "Data", "Model", "Serving", "Onnx", "Evaluation", "Training", "MLNet"];

    /// <summary>Folders whose code must not reference TorchSharp.</summary>
    public static readonly string[] TorchSharpFree = ["Architecture", "Control"];

    /// <summary>The core's projects (folder under src/) and the layer folders each holds. A project may reference only
    /// the projects listed before it; every layer is in a project. One layer spans two projects: Model, whose
    /// TorchSharp-free file-integrity part (InvalidModelFileException, the checksum frame) sits in MLNetSlim.Serving so the
    /// serving bundle reader shares it.</summary>
    public static readonly (string Project, string[] Folders)[] Projects =
    [
        ("MLNetSlim.Control", ["Architecture", "Control"]),
        ("MLNetSlim.Serving", ["Model", "Serving"]),
        ("MLNetSlim", ["Runtime", "Nn", "Network", "Data", "Model", "Onnx", "Evaluation", "Training", "MLNet"]),
    ];

    /// <summary>Projects whose every source file must be TorchSharp-free (whatever its layer).</summary>
    public static readonly string[] TorchSharpFreeProjects = ["MLNetSlim.Control", "MLNetSlim.Serving"];

    [TestMethod]
    public void EveryFolderOfTheCoreReferencesOnlyFoldersBelowIt_AndControlAndArchitectureAreTorchSharpFree()
    {
        string src = Path.Combine(RepositoryRoot(), "src");
        CollectionAssert.AreEquivalent(Order, Projects.SelectMany(p => p.Folders).Distinct().ToArray(),
            "every documented layer must be in a project of LayeringTests.Projects");
        var layerDirectories = new List<(string Folder, string Directory, string Project)>();
        foreach ((string project, string[] expected) in Projects)
        {
            string root = Path.Combine(src, project);
            string[] folders = Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>()
                .Where(f => f is not ("bin" or "obj")).Order().ToArray();
            CollectionAssert.AreEquivalent(expected, folders,
                $"src/{project}'s folders and the documented layers of that project differ; place a new folder in LayeringTests.Order, LayeringTests.Projects and docs/architecture.md.");
            Assert.IsEmpty(Directory.GetFiles(root, "*.cs"), $"src/{project}: every source file belongs in a layer folder");
            layerDirectories.AddRange(folders.Select(f => (f, Path.Combine(root, f), project)));
        }
        Dictionary<string, HashSet<string>> types = DeclaredTypes(layerDirectories.Select(l => l.Directory));
        var violations = new List<string>();
        int files = 0;
        foreach ((string folder, string directory, string project) in layerDirectories.OrderBy(l => Array.IndexOf(Order, l.Folder)))
        {
            foreach (string file in Directory.EnumerateFiles(directory, "*.cs", SearchOption.AllDirectories))
            {
                files++;
                string relative = Path.GetRelativePath(RepositoryRoot(), file).Replace('\\', '/');
                string text = File.ReadAllText(file);
                violations.AddRange(Violations(folder, relative, text, types));
                if (TorchSharpFreeProjects.Contains(project) && !TorchSharpFree.Contains(folder))
                {
                    string[] lines = text.Split('\n');
                    for (int i = 0; i < lines.Length; i++)
                        if (TorchReference().IsMatch(CodeOf(lines[i])))
                            violations.Add($"{relative}:{i + 1}: project {project} references TorchSharp ({lines[i].Trim()}); {project} must stay TorchSharp-free");
                }
            }
        }
        Assert.IsTrue(files > 40, $"expected the core's sources; found {files} files");
        Assert.IsEmpty(violations, "Layering violations (order, bottom to top: " + string.Join(" < ", Order) + "):\n" +
            string.Join("\n", violations));
    }

    /// <summary>The assembly-level guarantee behind serving without libtorch: the built MLNetSlim.Control references
    /// neither TorchSharp nor ML.NET nor another MLNetSlim assembly, its project has no package or project reference
    /// (so nothing can bring TorchSharp in transitively), and it holds only the two TorchSharp-free layers.</summary>
    [TestMethod]
    public void TheControlAssemblyReferencesNoTorchSharp_AndHoldsOnlyArchitectureAndControl()
    {
        System.Reflection.Assembly control = typeof(MLNetSlim.Control.Budget).Assembly;
        Assert.AreEqual("MLNetSlim.Control", control.GetName().Name);
        Assert.AreSame(control, typeof(MLNetSlim.Architecture.WidthConfiguration).Assembly);
        string[] references = control.GetReferencedAssemblies().Select(a => a.Name!).ToArray();
        string[] foreign = references.Where(n => !(n.StartsWith("System", StringComparison.Ordinal) || n is "netstandard" or "mscorlib")).ToArray();
        Assert.IsEmpty(foreign, $"MLNetSlim.Control must reference only the .NET runtime; it references [{string.Join(", ", foreign)}]");
        Assert.IsFalse(references.Any(n => n.Contains("Torch", StringComparison.OrdinalIgnoreCase)), string.Join(", ", references));
        string[] namespaces = control.GetTypes().Select(t => t.Namespace).OfType<string>()
            .Where(n => n.StartsWith("MLNetSlim", StringComparison.Ordinal)).Distinct().Order().ToArray();
        CollectionAssert.AreEqual(new[] { "MLNetSlim.Architecture", "MLNetSlim.Control" }, namespaces);
        string project = File.ReadAllText(Path.Combine(RepositoryRoot(), "src", "MLNetSlim.Control", "MLNetSlim.Control.csproj"));
        Assert.IsFalse(Regex.IsMatch(project, @"<(PackageReference|ProjectReference)\b"),
            "src/MLNetSlim.Control/MLNetSlim.Control.csproj must have no PackageReference or ProjectReference");
    }

    /// <summary>The serving assembly: no TorchSharp reference (built assembly and project file), only ML.NET, ONNX
    /// Runtime and MLNetSlim.Control besides the .NET runtime.</summary>
    [TestMethod]
    public void TheServingAssemblyReferencesNoTorchSharp()
    {
        System.Reflection.Assembly serving = typeof(MLNetSlim.Serving.ServingMultiTaskModel).Assembly;
        Assert.AreEqual("MLNetSlim.Serving", serving.GetName().Name);
        string[] references = serving.GetReferencedAssemblies().Select(a => a.Name!).ToArray();
        string[] foreign = references.Where(n => !(n.StartsWith("System", StringComparison.Ordinal) || n is "netstandard" or "mscorlib" or "MLNetSlim.Control"
            || n.StartsWith("Microsoft.ML", StringComparison.Ordinal))).ToArray();
        Assert.IsEmpty(foreign, $"MLNetSlim.Serving may reference ML.NET, ONNX Runtime and MLNetSlim.Control only; it references [{string.Join(", ", foreign)}]");
        string project = File.ReadAllText(Path.Combine(RepositoryRoot(), "src", "MLNetSlim.Serving", "MLNetSlim.Serving.csproj"));
        Assert.IsFalse(Regex.IsMatch(project, @"Include=""[^""]*torch", RegexOptions.IgnoreCase), "src/MLNetSlim.Serving/MLNetSlim.Serving.csproj references a torch package");
        Assert.IsFalse(Regex.IsMatch(project, @"<ProjectReference Include=""\.\./MLNetSlim/"), "MLNetSlim.Serving must not reference MLNetSlim");
    }

    [TestMethod]
    public void TheCheckFindsEveryKindOfUpwardReference()
    {
        var types = new Dictionary<string, HashSet<string>>
        {
            ["Evaluation"] = ["Dirichlet", "NetworkEvaluator"],
            ["Model"] = ["ControllableMultiTaskModel"],
        };
        const string source = """
            using MLNetSlim.Architecture;
            using MLNetSlim.Model;
            using static MLNetSlim.Evaluation.NetworkEvaluator;

            namespace MLNetSlim.Control;

            /// <summary>See <see cref="MLNetSlim.Training.ModelTrainer"/>.</summary>
            internal static class Fake
            {
                // A plain comment that names MLNetSlim.MLNet is not a reference.
                private const string Text = "MLNetSlim.Training is only a string";
                public static double[] Sample() => Evaluation.Dirichlet.Sample(new Random(0), 2, 1.0);
                public static object Trainer() => MLNetSlim.Training.ModelTrainer.Calibrate;
            }
            """;
        string[] found = Violations("Control", "src/MLNetSlim.Control/Control/Fake.cs", source, types).ToArray();
        string all = string.Join("\n", found);
        Assert.HasCount(5, found, all);
        StringAssert.Contains(all, "src/MLNetSlim.Control/Control/Fake.cs:2: Control references Model (using MLNetSlim.Model;)");
        StringAssert.Contains(all, "src/MLNetSlim.Control/Control/Fake.cs:3: Control references Evaluation (using static MLNetSlim.Evaluation.NetworkEvaluator;)");
        StringAssert.Contains(all, "src/MLNetSlim.Control/Control/Fake.cs:7: Control references Training");
        StringAssert.Contains(all, "src/MLNetSlim.Control/Control/Fake.cs:12: Control references Evaluation (Evaluation.Dirichlet)");
        StringAssert.Contains(all, "src/MLNetSlim.Control/Control/Fake.cs:13: Control references Training");
        Assert.IsFalse(all.Contains(":10:", StringComparison.Ordinal), "a plain comment is not a reference");
        Assert.IsFalse(all.Contains(":11:", StringComparison.Ordinal), "a string is not a reference");
        Assert.IsFalse(all.Contains(":1:", StringComparison.Ordinal), "Architecture is below Control");

        string torch = "using TorchSharp;\nusing static TorchSharp.torch;\n\nnamespace MLNetSlim.Architecture;\n\n/// <summary>TorchSharp-free.</summary>\npublic sealed class Shape { }\n";
        string[] torchFound = Violations("Architecture", "src/MLNetSlim.Control/Architecture/Shape.cs", torch, types).ToArray();
        Assert.HasCount(2, torchFound, string.Join("\n", torchFound));
        StringAssert.Contains(torchFound[0], "src/MLNetSlim.Control/Architecture/Shape.cs:1: Architecture references TorchSharp");

        Assert.IsEmpty(Violations("Network", "src/MLNetSlim/Network/Ok.cs", torch.Replace("namespace MLNetSlim.Architecture", "namespace MLNetSlim.Network") +
            "using MLNetSlim.Runtime;\nusing MLNetSlim.Architecture;\n", types).ToArray());
        string[] wrongNamespace = Violations("Control", "src/MLNetSlim.Control/Control/X.cs", "namespace MLNetSlim.Model;\n", types).ToArray();
        Assert.HasCount(1, wrongNamespace);
        StringAssert.Contains(wrongNamespace[0], "namespace MLNetSlim.Model does not follow its folder Control");
    }

    /// <summary>Every upward or TorchSharp reference of one source file, as "path:line: what (text)".</summary>
    public static IEnumerable<string> Violations(string folder, string path, string source, IReadOnlyDictionary<string, HashSet<string>> types)
    {
        int rank = Array.IndexOf(Order, folder);
        if (rank < 0) throw new ArgumentException($"'{folder}' is not a documented layer.", nameof(folder));
        string[] lines = source.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string code = CodeOf(lines[i]);
            string where = $"{path}:{i + 1}";
            Match ns = NamespaceLine().Match(code);
            if (ns.Success)
            {
                string first = ns.Groups[1].Value;
                if (first != folder) yield return $"{where}: namespace MLNetSlim.{ns.Groups[1].Value}{ns.Groups[2].Value} does not follow its folder {folder}";
                continue;
            }
            string? reported = null;
            foreach (Match m in QualifiedReference().Matches(code))
            {
                string target = m.Groups[1].Value;
                int targetRank = Array.IndexOf(Order, target);
                if (targetRank > rank) { reported = target; yield return $"{where}: {folder} references {target} ({code.Trim()})"; break; }
            }
            if (reported is null)
            {
                foreach (Match m in PartialReference().Matches(code))
                {
                    string target = m.Groups[1].Value, type = m.Groups[2].Value;
                    if (Array.IndexOf(Order, target) > rank && types.TryGetValue(target, out HashSet<string>? declared) && declared.Contains(type))
                    {
                        yield return $"{where}: {folder} references {target} ({target}.{type})";
                        break;
                    }
                }
            }
            if (TorchSharpFree.Contains(folder) && TorchReference().IsMatch(code))
                yield return $"{where}: {folder} references TorchSharp ({code.Trim()}); {folder} must stay TorchSharp-free";
        }
    }

    /// <summary>Type names declared per top-level namespace of the core (for partially qualified references such as
    /// <c>Evaluation.Dirichlet</c>, which resolve through the enclosing namespace MLNetSlim).</summary>
    public static Dictionary<string, HashSet<string>> DeclaredTypes(IEnumerable<string> directories)
    {
        var types = new Dictionary<string, HashSet<string>>();
        foreach (string file in directories.SelectMany(d => Directory.EnumerateFiles(d, "*.cs", SearchOption.AllDirectories)))
        {
            string text = File.ReadAllText(file);
            Match ns = NamespaceLine().Match(text);
            if (!ns.Success) continue;
            HashSet<string> set = types.TryGetValue(ns.Groups[1].Value, out HashSet<string>? s) ? s : types[ns.Groups[1].Value] = [];
            foreach (Match m in TypeDeclaration().Matches(text)) set.Add(m.Groups[1].Value);
        }
        return types;
    }

    /// <summary>The code of a line: string literals blanked, comments dropped except their cref targets (which bind).</summary>
    private static string CodeOf(string line)
    {
        string noStrings = StringLiteral().Replace(line, "\"\"");
        int comment = noStrings.IndexOf("//", StringComparison.Ordinal);
        if (comment < 0) return noStrings;
        string crefs = string.Join(" ", Cref().Matches(line[comment..]).Select(m => m.Groups[1].Value));
        return noStrings[..comment] + " " + crefs;
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "MLNetSlim.sln"))) return d.FullName;
        throw new InvalidOperationException($"MLNetSlim.sln not found above {AppContext.BaseDirectory}.");
    }

    [GeneratedRegex(@"^\s*namespace\s+MLNetSlim\.(\w+)([\w.]*)", RegexOptions.Multiline)]
    private static partial Regex NamespaceLine();

    [GeneratedRegex(@"\bMLNetSlim\.(\w+)")]
    private static partial Regex QualifiedReference();

    [GeneratedRegex(@"(?<![\w.])(\w+)\.([A-Z]\w*)")]
    private static partial Regex PartialReference();

    [GeneratedRegex(@"\bTorchSharp\b|(?<![\w.])torch\.")]
    private static partial Regex TorchReference();

    [GeneratedRegex(@"^\s*(?:(?:public|internal|private|protected|sealed|static|abstract|readonly|partial|file|ref)\s+)*(?:class|record(?:\s+struct|\s+class)?|struct|enum|interface|delegate\s+[\w<>\[\]?,\s]+?)\s+([A-Z]\w*)", RegexOptions.Multiline)]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex StringLiteral();

    [GeneratedRegex("cref=\"([^\"]*)\"")]
    private static partial Regex Cref();
}
