Feature: Orders become plans and tasks
  The CEO gives an order in plain words over the API. The orchestrator plans
  it into tasks for the departments and dispatches each task once the tasks
  it depends on are done. An order resubmitted with the same Idempotency-Key
  is the same order.

  Background:
    Given AgentOS runs on PostgreSQL with its events relayed through NATS JetStream
    And the CEO holds a token

  Scenario: A compound order becomes a plan of dependent tasks
    When the CEO orders "Audit this month's invoices and pay the approved ones, then forecast cash for Q3"
    Then the order is accepted
    And the rule-based planner plans it into these tasks:
      | task               | department | after         | status     |
      | invoice_audit      | finance    |               | dispatched |
      | payment_run        | finance    | invoice_audit | planned    |
      | cash_flow_forecast | finance    | payment_run   | planned    |

  Scenario: A resubmitted order with the same Idempotency-Key creates nothing new
    When the CEO orders "Scan inventory and reorder what is low" with the Idempotency-Key "restock-week-31"
    And the task "inventory_scan" is dispatched and the log is still
    And the CEO sends the same order again with the Idempotency-Key "restock-week-31"
    Then both answers name the same directive and the same checkpoint
    And the second answer is marked as a duplicate
    And the log holds no new event
    And the directives list holds 1 directive
