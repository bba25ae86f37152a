import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { readConfig } from './config';
import { BlueGreenStack } from './stack';

const app = new App();
new BlueGreenStack(app, 'AuroraBlueGreen', { config: readConfig(app) });
// Every finding is either fixed or acknowledged, with its reason, next to the resource it concerns.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
