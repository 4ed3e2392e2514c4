import { sqliteContractStores } from "../../../tests/support/test-db.ts";
import { workflowRegistryContract } from "../workflow-registry.contract.ts";

workflowRegistryContract("sqlite", sqliteContractStores());
