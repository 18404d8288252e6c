// Renders an API Gateway mapping template with Apache Velocity 1.7 and the `$input`, `$util`
// and `$context` variables as API Gateway documents them, so the template can be proven offline.
//
// Usage:
//   java -cp velocity.jar:commons-lang.jar:commons-collections3.jar RenderVtl.java \
//        [--raw] TEMPLATE.vtl CASES
//
// CASES is a file (or `-` for stdin) of line records; every free-form value is standard base64
// of its UTF-8 text so any byte sequence survives the framing:
//   case ID                   starts a request
//   body B64                  the raw request body
//   header B64NAME B64VALUE   one request header (order kept)
//   query B64NAME B64VALUE    one query-string parameter, already decoded as API Gateway gives it
//   path B64NAME B64VALUE     one path parameter
//   context KEY B64VALUE      domainName, path, requestId, stage, sourceIp, requestTimeEpoch, ...
//   end                       renders the request
// Output: one line per case, `ID B64(rendering)`; with --raw, the rendering itself followed by a
// line `--- end ID`. A template error prints `ID !message` and makes the exit status 1.

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.StringReader;
import java.io.StringWriter;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

import org.apache.commons.lang.StringEscapeUtils;
import org.apache.velocity.Template;
import org.apache.velocity.VelocityContext;
import org.apache.velocity.runtime.RuntimeConstants;
import org.apache.velocity.runtime.RuntimeInstance;
import org.apache.velocity.runtime.parser.node.SimpleNode;

public class RenderVtl {

    /** `$input`: the raw body and the request parameters, as API Gateway exposes them. */
    public static final class Input {
        private final String body;
        private final Map<String, Map<String, String>> params;

        Input(String body, Map<String, String> path, Map<String, String> query, Map<String, String> header) {
            this.body = body;
            this.params = new LinkedHashMap<>();
            this.params.put("path", path);
            this.params.put("querystring", query);
            this.params.put("header", header);
        }

        /** `$input.body`: the raw payload as a string. */
        public String getBody() {
            return body;
        }

        /** `$input.params()`: a map with the `path`, `querystring` and `header` maps. */
        public Map<String, Map<String, String>> params() {
            return params;
        }

        /** `$input.params(x)`: path, then query string, then header. */
        public String params(String name) {
            for (String kind : new String[] {"path", "querystring", "header"}) {
                String v = params.get(kind).get(name);
                if (v != null) {
                    return v;
                }
            }
            return null;
        }
    }

    /** `$util`: the helpers API Gateway documents (parseJson is not used by flexlex). */
    public static final class Util {
        public String escapeJavaScript(String s) {
            return StringEscapeUtils.escapeJavaScript(s);
        }

        public String base64Encode(String s) {
            return s == null ? null : Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
        }

        public String base64Decode(String s) {
            return s == null ? null : new String(Base64.getDecoder().decode(s), StandardCharsets.UTF_8);
        }

        public String urlEncode(String s) {
            return s == null ? null : URLEncoder.encode(s, StandardCharsets.UTF_8);
        }

        public String urlDecode(String s) {
            return s == null ? null : URLDecoder.decode(s, StandardCharsets.UTF_8);
        }
    }

    private static final class Case {
        String id;
        String body = "";
        final Map<String, String> header = new LinkedHashMap<>();
        final Map<String, String> query = new LinkedHashMap<>();
        final Map<String, String> path = new LinkedHashMap<>();
        final Map<String, Object> context = new LinkedHashMap<>();
        final Map<String, Object> identity = new LinkedHashMap<>();
    }

    private static String b64(String s) {
        return new String(Base64.getDecoder().decode(s), StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws Exception {
        boolean raw = false;
        int i = 0;
        if (args.length > 0 && args[0].equals("--raw")) {
            raw = true;
            i = 1;
        }
        if (args.length - i != 2) {
            System.err.println("usage: RenderVtl [--raw] TEMPLATE.vtl CASES|-");
            System.exit(2);
        }
        String templateText = new String(Files.readAllBytes(Paths.get(args[i])), StandardCharsets.UTF_8);

        Properties props = new Properties();
        props.setProperty(RuntimeConstants.RUNTIME_LOG_LOGSYSTEM_CLASS,
                "org.apache.velocity.runtime.log.NullLogChute");
        RuntimeInstance rs = new RuntimeInstance();
        rs.init(props);
        SimpleNode node = rs.parse(new StringReader(templateText), "template");
        Template template = new Template();
        template.setRuntimeServices(rs);
        template.setData(node);
        template.initDocument();

        InputStream in = args[i + 1].equals("-") ? System.in : new FileInputStream(args[i + 1]);
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        Util util = new Util();
        int status = 0;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            Case c = null;
            String line;
            while ((line = r.readLine()) != null) {
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                String[] f = line.split(" ", -1);
                switch (f[0]) {
                    case "case":
                        c = new Case();
                        c.id = f[1];
                        break;
                    case "body":
                        c.body = f.length > 1 ? b64(f[1]) : "";
                        break;
                    case "header":
                        c.header.put(b64(f[1]), b64(f[2]));
                        break;
                    case "query":
                        c.query.put(b64(f[1]), b64(f[2]));
                        break;
                    case "path":
                        c.path.put(b64(f[1]), b64(f[2]));
                        break;
                    case "context":
                        if (f[1].equals("sourceIp")) {
                            c.identity.put("sourceIp", b64(f[2]));
                        } else if (f[1].equals("requestTimeEpoch")) {
                            // API Gateway hands the epoch over as a number, not a string.
                            c.context.put(f[1], Long.valueOf(b64(f[2])));
                        } else {
                            c.context.put(f[1], b64(f[2]));
                        }
                        break;
                    case "end":
                        c.context.put("identity", c.identity);
                        VelocityContext vc = new VelocityContext();
                        vc.put("input", new Input(c.body, c.path, c.query, c.header));
                        vc.put("util", util);
                        vc.put("context", c.context);
                        StringWriter w = new StringWriter();
                        try {
                            template.merge(vc, w);
                        } catch (RuntimeException e) {
                            out.println(c.id + " !" + e.toString().replace('\n', ' '));
                            status = 1;
                            c = null;
                            break;
                        }
                        if (raw) {
                            out.print(w);
                            out.println("--- end " + c.id);
                        } else {
                            out.println(c.id + " " + Base64.getEncoder().encodeToString(
                                    w.toString().getBytes(StandardCharsets.UTF_8)));
                        }
                        c = null;
                        break;
                    default:
                        System.err.println("unknown record: " + f[0]);
                        System.exit(2);
                }
            }
        }
        out.flush();
        System.exit(status);
    }
}
