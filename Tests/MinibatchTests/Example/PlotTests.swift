// The command-line programs are built with the CommandLineTools trait (`make test` enables it).
#if CommandLineTools
  import Foundation
  import Testing

  @testable import Minibatch
  @testable import minibatch_train

  #if canImport(FoundationXML)
    import FoundationXML
  #endif

  /// The SVG of `--plot`, checked by its structure (parsed as XML: every coordinate finite and
  /// inside the picture, every label inside it, nice ticks with gridlines, the legend outside the
  /// data, styles told apart without colour) and, where `rsvg-convert` is installed, rendered to
  /// PNG.
  @Suite struct PlotTests {
    /// One element of the SVG: its name, attributes, text and enclosing `<g>` classes.
    struct Element {
      var name: String
      var attributes: [String: String]
      var text = ""
      var groups: [String]
      var classes: [String] { (attributes["class"] ?? "").split(separator: " ").map(String.init) }
      func number(_ key: String) -> Double? { attributes[key].flatMap(Double.init) }
    }

    final class Collector: NSObject, XMLParserDelegate {
      var elements: [Element] = []
      var open: [Int] = []
      var groups: [String] = []
      func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
        qualifiedName: String?, attributes: [String: String] = [:]
      ) {
        elements.append(Element(name: name, attributes: attributes, groups: groups))
        open.append(elements.count - 1)
        if name == "defs" { groups.append("defs:") }
        if name == "g" {
          groups.append((attributes["class"] ?? "") + ":" + (attributes["data-name"] ?? ""))
        }
      }
      func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let last = open.last { elements[last].text += string }
      }
      func parser(
        _ parser: XMLParser, didEndElement name: String, namespaceURI: String?,
        qualifiedName: String?
      ) {
        open.removeLast()
        if name == "g" || name == "defs" { groups.removeLast() }
      }
    }

    /// The elements of `svg`, which must be well-formed XML with an `<svg>` root.
    func parse(_ svg: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [Element]
    {
      let parser = XMLParser(data: Data(svg.utf8))
      let collector = Collector()
      parser.delegate = collector
      #expect(
        parser.parse(), "not well-formed: \(String(describing: parser.parserError))",
        sourceLocation: sourceLocation)
      #expect(collector.elements.first?.name == "svg", sourceLocation: sourceLocation)
      return collector.elements
    }

    func report(
      _ epoch: Int, loss: Double, test: Double? = nil, accuracy: Double? = nil,
      epsilon: Double? = nil
    ) -> EpochReport {
      var report = EpochReport(
        epoch: epoch, meanLoss: loss, steps: 10, examples: 100, learningRate: 0.1, seconds: 0.5)
      report.evaluationLoss = test
      report.evaluationAccuracy = accuracy
      report.epsilon = epsilon
      return report
    }

    /// The runs a user plots: a classification run with a test set, a DP run, a one-epoch run,
    /// a diverging regression run (with an infinite and a NaN loss at its end).
    func histories() -> [(name: String, history: TrainingHistory)] {
      let normal = TrainingHistory(task: .classification)
      for epoch in 0..<12 {
        let loss = 0.08 + 0.9 * exp(-Double(epoch) / 2)
        normal.append(
          report(epoch, loss: loss, test: loss + 0.05 * Double(epoch) / 12, accuracy: 0.9),
          trainAccuracy: 0.7 + 0.025 * Double(epoch))
      }
      let dp = TrainingHistory(task: .classification)
      for epoch in 0..<30 {
        dp.append(
          report(
            epoch, loss: 2.3 / Double(epoch + 1) + 0.3, test: 2 / Double(epoch + 1) + 0.4,
            accuracy: 0.5 + 0.013 * Double(epoch), epsilon: 0.6 * sqrt(Double(epoch + 1))),
          trainAccuracy: 0.55 + 0.013 * Double(epoch))
      }
      let one = TrainingHistory(task: .classification)
      one.append(report(0, loss: 0.41, test: 0.38, accuracy: 0.91), trainAccuracy: 0.93)
      let diverging = TrainingHistory(task: .regression)
      for epoch in 0..<9 {
        let loss: Double =
          epoch == 7 ? .infinity : epoch == 8 ? .nan : 1.702e10 * pow(1e25, Double(epoch))
        diverging.append(
          report(epoch, loss: loss, test: loss.isFinite ? loss * 2 : nil), trainAccuracy: nil)
      }
      return [("normal", normal), ("dp", dp), ("one-epoch", one), ("diverging", diverging)]
    }

    @Test func everyCoordinateAndLabelIsInsideThePicture() throws {
      for (name, history) in histories() {
        let svg = history.svg(title: "a \(name) run of a model with a long descriptive title")
        let elements = try parse(svg)
        let root = try #require(elements.first)
        let (width, height) = (
          try #require(root.number("width")), try #require(root.number("height"))
        )
        for element in elements.dropFirst() where !element.groups.contains("defs:") {
          for key in ["x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "width", "height"] {
            guard let text = element.attributes[key], !text.hasSuffix("%") else { continue }
            let value = try #require(Double(text), "\(name): \(key)=\"\(text)\"")
            #expect(value.isFinite && text.count <= 10, "\(name): \(element.name) \(key)=\(text)")
            let limit = key.hasPrefix("x") || key == "cx" || key == "width" ? width : height
            #expect(value >= 0 && value <= limit, "\(name): \(element.name) \(key)=\(text)")
          }
          for pair in (element.attributes["points"] ?? "").split(separator: " ") {
            let xy = pair.split(separator: ",").compactMap { Double($0) }
            #expect(
              xy.count == 2 && (0...width).contains(xy[0]) && (0...height).contains(xy[1]),
              "\(name): point \(pair)")
          }
          // Text inside the picture, by a generous estimate of its width.
          if element.name == "text", element.attributes["transform"] == nil,
            let x = element.number("x")
          {
            let size = element.number("font-size") ?? 12
            // Sans-serif digits are 0.56 to 0.64 em wide.
            let extent = Double(element.text.count) * 0.64 * size
            let start =
              element.attributes["text-anchor"] == "end"
              ? x - extent : element.attributes["text-anchor"] == "middle" ? x - extent / 2 : x
            #expect(
              start >= 0 && start + extent <= width,
              "\(name): \"\(element.text)\" spans \(start)...\(start + extent) of \(width)")
          }
          if element.name == "text" {
            #expect(element.text.count <= 80, "\(name): \(element.text)")
          }
        }
      }
    }

    /// The values of a panel's tick labels along one axis.
    func ticks(_ elements: [Element], panel: String, axis: String) -> [Double] {
      elements.filter {
        $0.name == "text" && $0.classes.contains("tick")
          && $0.groups.contains("panel:\(panel)") && $0.groups.contains("axis \(axis):")
      }.compactMap { Double($0.text) }
    }

    /// Nice steps: equal, of 1, 2 or 5 × 10^k (linear), or powers of ten (log); gridlines at
    /// every tick; axis titles; the legend above every data area.
    @Test func ticksAreNiceWithGridlinesAndTheLegendIsOutsideTheData() throws {
      for (name, history) in histories() {
        let elements = try parse(history.svg(title: name))
        let panels = elements.filter { $0.name == "g" && $0.classes.contains("panel") }
        #expect(panels.count == (name == "dp" ? 3 : name == "diverging" ? 1 : 2), "\(name)")
        for panel in panels {
          let title = try #require(panel.attributes["data-name"])
          let isLog = panel.attributes["data-scale"] == "log"
          let y = ticks(elements, panel: title, axis: "y")
          #expect(y.count >= (name == "one-epoch" ? 3 : 4), "\(name) \(title): \(y)")
          let steps = zip(y, y.dropFirst()).map { isLog ? log10($1 / $0) : $1 - $0 }
          for step in steps {
            #expect(abs(step - steps[0]) <= 1e-9 * abs(steps[0]), "\(name) \(title): \(y)")
            let mantissa = step / pow(10, floor(log10(step)))
            #expect(
              [1, 2, 5, 10].contains { abs(mantissa - $0) < 1e-6 }, "\(name) \(title): \(y)")
          }
          let x = ticks(elements, panel: title, axis: "x")
          #expect(!x.isEmpty && x.allSatisfy { $0 == $0.rounded() }, "\(name) \(title): \(x)")
          let grid = elements.filter {
            $0.name == "line" && $0.groups.contains("panel:\(title)") && $0.groups.contains("grid:")
          }
          #expect(grid.count == x.count + y.count, "\(name) \(title)")
          let axisTitles = elements.filter {
            $0.classes.contains("axis-title") && $0.groups.contains("panel:\(title)")
          }
          #expect(axisTitles.map(\.text).contains("epoch") && axisTitles.count == 2)
        }
        let dataTop = elements.filter { $0.classes.contains("data-area") }.compactMap {
          $0.number("y")
        }.min()
        let legend = elements.filter { $0.groups.contains { $0.hasPrefix("legend:") } }
        #expect(!legend.isEmpty, "\(name): no legend")
        for element in legend {
          let y = element.number("y") ?? element.number("y1") ?? 0
          #expect(y < (dataTop ?? 0), "\(name): the legend reaches into the data")
        }
      }
    }

    /// Training and test differ by dash pattern and marker shape, not only by colour; a loss over
    /// many decades is on a log scale with short labels; non-finite values break the curve and
    /// are marked; one epoch sits in the middle; a DP run shows ε for every epoch.
    @Test func seriesAreDistinguishableAndEdgeCasesAreDrawn() throws {
      let runs = Dictionary(uniqueKeysWithValues: histories().map { ($0.name, $0.history) })
      let normal = try parse(try #require(runs["normal"]).svg(title: "normal"))
      func series(_ elements: [Element], _ name: String, panel: String = "Loss") -> [Element] {
        elements.filter {
          $0.groups.contains("panel:\(panel)") && $0.groups.contains("series:\(name)")
        }
      }
      let training = series(normal, "training")
      let test = series(normal, "test")
      let dashes = [training, test].map {
        $0.first { $0.name == "polyline" }?.attributes["stroke-dasharray"]
      }
      #expect(dashes[0] == nil && dashes[1] != nil)
      let markers = [training, test].map {
        Set($0.filter { $0.classes.contains("point") }.compactMap { $0.attributes["xlink:href"] })
      }
      #expect(markers[0].count == 1 && markers[1].count == 1 && markers[0] != markers[1])
      #expect(training.filter { $0.classes.contains("point") }.count == 12)
      #expect(
        normal.contains { $0.classes.contains("panel") && $0.attributes["data-scale"] == "linear" })

      let diverging = try parse(try #require(runs["diverging"]).svg(title: "diverging"))
      #expect(diverging.contains { $0.attributes["data-scale"] == "log" })
      let labels = diverging.filter { $0.classes.contains("tick") }.map(\.text)
      #expect(labels.allSatisfy { $0.count <= 6 }, "\(labels)")
      let marked = diverging.filter { $0.classes.contains("nonfinite") }
      #expect(marked.map { $0.attributes["data-epoch"] } == ["8", "9"])
      let note = diverging.first { $0.classes.contains("note") }?.text ?? ""
      #expect(
        note.contains("training: ∞ (epoch 8), NaN (epoch 9)"),
        "\(note)")
      #expect(diverging.filter { $0.name == "polyline" }.count == 2)  // training, test
      // A NaN loss is not drawn as a number anywhere.
      #expect(
        !diverging.contains { $0.attributes.values.contains { $0.lowercased().contains("nan") } })

      let one = try parse(try #require(runs["one-epoch"]).svg(title: "one"))
      let area = try #require(one.first { $0.classes.contains("data-area") })
      let point = try #require(series(one, "training").first { $0.classes.contains("point") })
      let (left, width) = (try #require(area.number("x")), try #require(area.number("width")))
      let x = try #require(point.number("x") ?? point.number("cx"))
      #expect(abs(x - (left + width / 2)) < 0.01)

      let dp = try parse(try #require(runs["dp"]).svg(title: "dp"))
      #expect(
        series(dp, "ε", panel: "Privacy spent").filter { $0.classes.contains("point") }.count == 30)
    }

    /// Where `rsvg-convert` (librsvg2-bin, installed by `make deps`) is available: every plot
    /// renders to a PNG, kept in `minibatch-plots` of the temporary folder for a look.
    @Test func plotsRenderToPNG() throws {
      let converter = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first {
        FileManager.default.isExecutableFile(atPath: $0)
      }
      guard let converter else { return }
      let folder = FileManager.default.temporaryDirectory.appendingPathComponent("minibatch-plots")
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      for (name, history) in histories() {
        let svg = folder.appendingPathComponent("\(name).svg")
        let png = folder.appendingPathComponent("\(name).png")
        try history.writeSVG(to: svg.path, title: "\(name) run")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: converter)
        process.arguments = [svg.path, "-o", png.path]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        let message = String(
          decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0 && message.isEmpty, "\(name): \(message)")
        let bytes = try Data(contentsOf: png)
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) && bytes.count > 5_000, "\(name)")
      }
    }
  }
#endif
