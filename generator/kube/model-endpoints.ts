/**
 * Hosts of hosted model APIs, for `discover`'s heuristic: a workload whose recorded egress (an envelope) reaches one
 * is an AI agent whether or not it carries the agent label. The host names are the vendors' documented API
 * endpoints: OpenAI (https://platform.openai.com/docs/api-reference), Azure OpenAI
 * (`<resource>.openai.azure.com`, https://learn.microsoft.com/azure/ai-services/openai/reference), Anthropic
 * (https://docs.anthropic.com/en/api), Google Gemini and Vertex AI (`generativelanguage.googleapis.com`,
 * `<region>-aiplatform.googleapis.com`), Amazon Bedrock (`bedrock-runtime.<region>.amazonaws.com`), Mistral,
 * Cohere.
 */
export interface ModelEndpoint {
  vendor: string;
  pattern: RegExp;
}

export const MODEL_ENDPOINTS: readonly ModelEndpoint[] = [
  { vendor: 'OpenAI', pattern: /^api\.openai\.com$/ },
  { vendor: 'Azure OpenAI', pattern: /^[a-z0-9-]+\.openai\.azure\.com$/ },
  { vendor: 'Azure AI Foundry', pattern: /^[a-z0-9-]+\.services\.ai\.azure\.com$/ },
  { vendor: 'Anthropic', pattern: /^api\.anthropic\.com$/ },
  { vendor: 'Google Gemini', pattern: /^generativelanguage\.googleapis\.com$/ },
  { vendor: 'Google Vertex AI', pattern: /^([a-z0-9-]+-)?aiplatform\.googleapis\.com$/ },
  { vendor: 'Amazon Bedrock', pattern: /^bedrock-runtime(-fips)?\.[a-z0-9-]+\.amazonaws\.com$/ },
  { vendor: 'Mistral', pattern: /^api\.mistral\.ai$/ },
  { vendor: 'Cohere', pattern: /^api\.cohere\.(ai|com)$/ },
];

/** The vendor whose model API `host` is, if any. */
export function modelVendor(host: string): string | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  return MODEL_ENDPOINTS.find((e) => e.pattern.test(h))?.vendor;
}
