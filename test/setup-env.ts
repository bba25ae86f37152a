// aws-local-stepfunctions 3 targets Node 22; on Node 20 it needs Promise.withResolvers.
import '../local/polyfills';
